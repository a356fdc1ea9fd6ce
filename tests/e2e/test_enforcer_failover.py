"""Two enforcers against one real kube-apiserver and one lab OVN NB: leader election.

Each enforcer is a real ``mnp enforcer`` process (the ServiceAccount of ``config/``, so the
Lease RBAC that ships is what it uses) with its own metrics; who wrote what is counted by
their ``mnp_enforcer_nb_transactions`` / ``mnp_enforcer_nb_rows_written`` counters, who
leads by ``mnp_enforcer_leader`` and the Lease's ``holderIdentity``. The NB is compared by
its owned rows' keys (duplicates kept) with a full compile of what the API server holds.

Everything is asserted by state and counts. The takeover times are measured and printed
(run with ``-s`` to see them), never asserted; the polling deadlines are ceilings.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mnp.snapshot import snapshot_from_objects
from tests.support.enforcer_cluster import (
    CONVERGE_TIMEOUT_S,
    POLL_INTERVAL_S,
    EnforcerLab,
    EnforcerProcess,
    cluster_state_objects,
    delete_lease,
    lease_spec,
    pod_object,
    policy_object,
    proxied_kubeconfig,
    sample,
    start_enforcer_lab,
    total,
)
from tests.support.ovn_enforcement import expected_keys, owned_keys, write_manifests
from tests.support.tcp_proxy import CountingProxy

LEASE_DURATION_S = 15.0  # the default the enforcers run with
CHURN_STEPS = 36
KILL_AT_STEP = 10
CHURN_PAUSE_S = 0.2  # between steps, so that the churn spans the leaderless window
CHURN_POLICIES = 3
# Reconciles that ran to the end (a withheld write raises before it is counted here).
RECONCILES = "mnp_enforcer_reconcile_duration_seconds_count"


def spare_pod(namespace: str, name: str, labels: dict[str, str]) -> dict[str, Any]:
    pod = copy.deepcopy(pod_object(f"{namespace}/a"))
    pod["metadata"]["name"] = name
    pod["metadata"]["labels"] = labels
    return pod


SPARE_PODS = [
    spare_pod("blue", "c0", {"app": "web"}),
    spare_pod("blue", "c1", {"app": "db"}),
    spare_pod("red", "c2", {"app": "web"}),
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnforcerLab]:
    yield from start_enforcer_lab(tmp_path_factory.mktemp("failover"), SPARE_PODS)


@pytest.fixture
def started(lab: EnforcerLab) -> Iterator[list[EnforcerProcess]]:
    """Enforcers a test starts (appended here) are stopped after it; each test starts with
    no Lease, so the first enforcer it starts becomes the leader."""
    delete_lease(lab.kube)
    processes: list[EnforcerProcess] = []
    yield processes
    for process in processes:
        process.stop()


# --- helpers ------------------------------------------------------------------------------


def wait_until(what: str, ok: Callable[[], bool], *logs_of: EnforcerProcess) -> float:
    """Poll ``ok`` until true; the monotonic time it was first seen true."""
    deadline = time.monotonic() + CONVERGE_TIMEOUT_S
    while True:
        if ok():
            return time.monotonic()
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.log}:\n{p.log_tail(3000)}" for p in logs_of)
            pytest.fail(f"never happened: {what}\n{tails}")
        time.sleep(POLL_INTERVAL_S / 2)


def is_leader(enforcer: EnforcerProcess) -> bool:
    enforcer.assert_running()
    return sample(enforcer.metrics(), "mnp_enforcer_leader") == 1


def written(enforcer: EnforcerProcess) -> tuple[float, float]:
    """(NB transactions, rows written) by this process so far."""
    samples = enforcer.metrics()
    return (
        sample(samples, "mnp_enforcer_nb_transactions_total"),
        total(samples, "mnp_enforcer_nb_rows_written_total"),
    )


def withheld(enforcer: EnforcerProcess) -> float:
    return sample(enforcer.metrics(), "mnp_enforcer_writes_withheld_total")


def warm(enforcer: EnforcerProcess) -> bool:
    """Synced and through its first reconcile (applied, or withheld as a standby)."""
    enforcer.assert_running()
    try:
        samples = enforcer.metrics()
    except OSError:
        return False  # the metrics port is not up yet
    reconciles = sample(samples, RECONCILES)
    return reconciles + sample(samples, "mnp_enforcer_writes_withheld_total") >= 1


def holder(lab: EnforcerLab) -> str:
    return str(lease_spec(lab.kube).get("holderIdentity") or "")


def start_leader(lab: EnforcerLab, name: str, *args: str, **kw: Any) -> EnforcerProcess:
    enforcer = lab.enforcer(name, *args, **kw)
    wait_until(f"{name} leads", lambda: warm(enforcer) and is_leader(enforcer), enforcer)
    assert holder(lab).startswith(f"{name}_")
    return enforcer


def start_standby(lab: EnforcerLab, name: str, *args: str, **kw: Any) -> EnforcerProcess:
    enforcer = lab.enforcer(name, *args, **kw)
    wait_until(f"{name} is warm", lambda: warm(enforcer), enforcer)
    assert not is_leader(enforcer)
    return enforcer


def wanted_keys(lab: EnforcerLab) -> dict[str, list[str]]:
    """The rows a full compile of the cluster's current state gives."""
    return expected_keys(snapshot_from_objects(cluster_state_objects(lab.kube)))


def wait_converged(lab: EnforcerLab, *logs_of: EnforcerProcess) -> dict[str, list[str]]:
    want = wanted_keys(lab)
    wait_until(
        "the NB holds exactly the compiled rows", lambda: owned_keys(lab.ovn) == want, *logs_of
    )
    return want


def acl_rows(lab: EnforcerLab) -> list[Any]:
    """Every owned ACL as (uuid, direction, priority, match, action): any rewrite shows."""
    text = lab.ovn.nbctl(
        "--format=json",
        "--columns=_uuid,direction,priority,match,action",
        "find",
        "ACL",
        'external_ids:"mnp.k8s.cni.cncf.io/owner"=mnp',
    )
    return sorted(json.dumps(row) for row in json.loads(text)["data"])


def leader_lines(enforcer: EnforcerProcess, what: str) -> int:
    return enforcer.log.read_text(errors="replace").count(what)


# --- churn --------------------------------------------------------------------------------


def churn_policy(step: int) -> dict[str, Any]:
    """One of ``CHURN_POLICIES`` policies in blue, its port and peers changing with ``step``."""
    peer = {"app": "web"} if step % 2 else {"app": "db"}
    return policy_object(
        "blue",
        f"churn-{step % CHURN_POLICIES}",
        {
            "podSelector": {"matchLabels": {"app": "db"} if step % 3 else {}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": peer}}],
                    "ports": [{"protocol": "TCP", "port": 8000 + step}],
                }
            ],
        },
    )


def churn_step(lab: EnforcerLab, step: int) -> None:
    """A create, update or delete of a policy, a pod relabel, or a pod create/delete."""
    kind = step % 5
    if kind in (0, 2):
        lab.apply(churn_policy(step))
    elif kind == 1:
        app = "web" if step % 2 else "retired"
        lab.kubectl("label", "pod", "-n", "red", "a", f"app={app}", "--overwrite")
    elif kind == 3:
        key = ("blue/c0", "blue/c1", "red/c2")[step % 3]
        namespace, name = key.split("/")
        if lab.kube.kubectl("get", "pod", "-n", namespace, name, check=False).returncode == 0:
            lab.kubectl("delete", "pod", "-n", namespace, name, "--wait=false")
        else:
            lab.apply(lab.spare_pods[key])
    else:
        name = f"churn-{(step + 1) % CHURN_POLICIES}"
        lab.kubectl("delete", "multi-networkpolicy", "-n", "blue", name, "--ignore-not-found")


class Churn(threading.Thread):
    """``CHURN_STEPS`` steps in a row; ``reached`` is set once ``KILL_AT_STEP`` are done."""

    def __init__(self, lab: EnforcerLab) -> None:
        super().__init__(name="churn", daemon=True)
        self.lab = lab
        self.reached = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for step in range(CHURN_STEPS):
                if step == KILL_AT_STEP:
                    self.reached.set()
                churn_step(self.lab, step)
                time.sleep(CHURN_PAUSE_S)
        except BaseException as e:
            self.error = e
        finally:
            self.reached.set()


# --- tests --------------------------------------------------------------------------------


def test_one_leader_writes_and_the_standby_takes_over_after_sigkill_during_churn(
    lab: EnforcerLab, started: list[EnforcerProcess]
) -> None:
    a = start_leader(lab, "enforcer-a")
    started.append(a)
    b = start_standby(lab, "enforcer-b")
    started.append(b)
    wait_converged(lab, a, b)
    assert holder(lab).startswith("enforcer-a_")

    churn = Churn(lab)
    churn.start()
    churn.reached.wait(CONVERGE_TIMEOUT_S)
    assert churn.error is None, churn.error
    a_wrote, b_wrote = written(a), written(b)
    assert not is_leader(b)
    a.kill()
    killed_at = time.monotonic()
    took_over_at = wait_until("enforcer-b takes over", lambda: is_leader(b), b)
    churn.join(CONVERGE_TIMEOUT_S * 2)
    assert not churn.is_alive() and churn.error is None, churn.error

    print(
        f"\ntakeover after SIGKILL of the leader: {took_over_at - killed_at:.1f} s"
        f" (lease duration {LEASE_DURATION_S:.0f} s)"
    )
    # Only the leader wrote: the churn before the kill is all enforcer-a's.
    assert a_wrote[0] > 0 and a_wrote[1] > 0
    assert b_wrote == (0.0, 0.0)
    assert holder(lab).startswith("enforcer-b_")
    assert lease_spec(lab.kube)["leaseTransitions"] >= 1
    # Nothing lost, nothing duplicated: exactly a full compile of the final state.
    want = wait_converged(lab, b)
    assert want["ACL"], "the churn left policies behind to compare"
    assert written(b)[0] > 0  # the churn after the kill was enforcer-b's to write
    assert leader_lines(b, "is now the leader") == 1


def test_a_leader_cut_off_from_the_api_server_stops_writing(
    lab: EnforcerLab, started: list[EnforcerProcess], tmp_path: Path
) -> None:
    proxy = CountingProxy(lab.kube.apiserver_port)
    try:
        cut_off = proxied_kubeconfig(lab.kubeconfig, proxy.url, tmp_path / "a.kubeconfig")
        # A resync every second: cut off, it keeps reconciling its (stale) view of the cluster.
        a = start_leader(lab, "enforcer-a", "--resync=1", kubeconfig=cut_off)
        started.append(a)
        b = start_standby(lab, "enforcer-b")
        started.append(b)
        wait_converged(lab, a, b)

        proxy.refuse()
        cut_at = time.monotonic()
        a_at_cut = written(a)
        wait_until("enforcer-a gives up the lead", lambda: not is_leader(a), a)
        took_over_at = wait_until("enforcer-b takes over", lambda: is_leader(b), b)
        assert holder(lab).startswith("enforcer-b_")

        # A change enforcer-a cannot see: enforcer-b writes it, and enforcer-a, which would
        # delete those rows (they are not in its view), withholds every such write.
        lab.apply(
            policy_object(
                "red",
                "after-the-cut",
                {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []},
            )
        )
        want = wait_converged(lab, a, b)
        assert any("|red/after-the-cut" in key for key in want["Port_Group"] + want["ACL"])
        tried = withheld(a)
        wait_until("enforcer-a tried to write 3 more times", lambda: withheld(a) >= tried + 3, a)
        assert written(a) == a_at_cut  # not one transaction since the cut
        assert owned_keys(lab.ovn) == want
        assert written(b)[0] > 0
        assert leader_lines(a, "is no longer the leader") == 1
        print(f"\ntakeover from a cut-off leader: {took_over_at - cut_at:.1f} s after the cut")

        # Reconnected, enforcer-a catches up and sees the Lease is enforcer-b's: standby.
        # (Its reconciles count only when they had nothing to write, i.e. its view is current.)
        reconciles = sample(a.metrics(), RECONCILES)
        proxy.allow()
        wait_until(
            "enforcer-a's view is current again",
            lambda: sample(a.metrics(), RECONCILES) > reconciles,
            a,
        )
        assert not is_leader(a) and is_leader(b)
        assert written(a) == a_at_cut
        assert holder(lab).startswith("enforcer-b_")
    finally:
        proxy.close()


def test_two_enforcers_with_different_inputs_do_not_fight(
    lab: EnforcerLab, started: list[EnforcerProcess], tmp_path: Path
) -> None:
    a = start_leader(lab, "enforcer-a")
    started.append(a)
    a_view = wait_converged(lab, a)
    # enforcer-b reads files: the same namespaces, NADs and pods, other policies.
    b_objects = [
        o for o in cluster_state_objects(lab.kube) if o["kind"] != "MultiNetworkPolicy"
    ] + [policy_object("blue", "b-only", {"podSelector": {}, "policyTypes": ["Egress"]})]
    b_view = expected_keys(snapshot_from_objects(b_objects))
    assert b_view != a_view
    manifests = write_manifests(tmp_path / "b.json", b_objects)
    b = start_standby(
        lab, "enforcer-b", "--source=files", f"--file={manifests}", "--leader-elect", "--resync=0.5"
    )
    started.append(b)

    # A window of 10 attempts by enforcer-b to rewrite the NB to its view.
    acls, a_before, tried = acl_rows(lab), written(a), withheld(b)
    wait_until("enforcer-b tried 10 times", lambda: withheld(b) >= tried + 10, b)
    assert acl_rows(lab) == acls  # zero ACL rewrites
    assert owned_keys(lab.ovn) == a_view
    assert written(b) == (0.0, 0.0)
    assert written(a) == a_before  # nothing to repair: nobody fought it

    # The leader stops (SIGTERM) and releases the Lease: enforcer-b takes it over at once,
    # without waiting for it to expire, and now its view is what lands.
    stopping_at = time.monotonic()
    a.stop()
    took_over_at = wait_until("enforcer-b takes over", lambda: is_leader(b), b)
    print(
        f"\ntakeover after SIGTERM of the leader (it releases): {took_over_at - stopping_at:.1f} s"
    )
    assert a.proc is not None and a.proc.returncode == 0
    assert leader_lines(a, "released lease") == 1
    assert holder(lab).startswith("enforcer-b_")
    wait_until("the NB holds enforcer-b's view", lambda: owned_keys(lab.ovn) == b_view, b)
    assert written(b)[0] > 0
