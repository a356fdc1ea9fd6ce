"""The enforcer as a real ``mnp enforcer --source kube`` process against a real kube-apiserver.

Objects are created and changed with kubectl. The test plays OVN-Kubernetes' part by hand:
each pod carries its ``k8s.ovn.org/pod-networks`` annotation (from ``fill_pod_networks``)
and has its switch port in the lab OVN (``build_topology``) before it is created. No
webhook is installed, so a bad policy is stored as it would have been before the webhook
existed. The enforcer runs as the ServiceAccount of ``config/enforcer/rbac.yaml`` (a token
kubeconfig), so the RBAC that ships is what lists, watches and creates Events here.

After each step the ovn-trace matrix is polled until it equals a hand-written table
(``.`` allowed, ``X`` blocked; rows are sources, columns destinations; a pod towards itself
is not traced), with a deadline; the deadline is a ceiling, not an expectation.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.enforcer_cluster import (
    ALL_ALLOWED,
    CONVERGE_TIMEOUT_S,
    POLL_INTERVAL_S,
    EnforcerCluster,
    policy_object,
    sample,
    start_cluster,
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnforcerCluster]:
    """Own control plane and OVN (the watch tests restart the API server), pods applied,
    the enforcer started and converged on "no policies": everything reaches everything."""
    yield from start_cluster(tmp_path_factory.mktemp("enforcer-kube"))


# --- tables -----------------------------------------------------------------------------


# blue/db-ingress: blue/b (app=db) accepts app=web pods of blue, and namespaces team=trusted.
# red/client-egress: red/b (app=client) may only send to namespaces team=blue, and
# (policyTypes defaulted to both) accepts nothing.
DB_FROM_BLUE_WEB_CLIENT_TO_BLUE = """
        blue/a blue/b red/a red/b
blue/a    .      .     .     X
blue/b    .      .     .     X
red/a     .      X     .     X
red/b     .      X     X     X
"""

# blue/a is relabelled app=web -> app=retired: nothing may reach blue/b any more.
DB_CLOSED = """
        blue/a blue/b red/a red/b
blue/a    .      X     .     X
blue/b    .      .     .     X
red/a     .      X     .     X
red/b     .      X     X     X
"""

# Namespace red gets team=trusted: its pods reach blue/b (red/b's egress allows blue).
DB_FROM_TRUSTED_RED = """
        blue/a blue/b red/a red/b
blue/a    .      X     .     X
blue/b    .      .     .     X
red/a     .      .     .     X
red/b     .      .     X     X
"""

# blue/db-ingress now selects every pod of blue and admits only team=trusted namespaces.
BLUE_FROM_TRUSTED_ONLY = """
        blue/a blue/b red/a red/b
blue/a    X      X     .     X
blue/b    X      X     .     X
red/a     .      .     .     X
red/b     .      .     X     X
"""

# blue/db-ingress deleted: only red/client-egress is left.
CLIENT_TO_BLUE_ONLY = """
        blue/a blue/b red/a red/b
blue/a    .      .     .     X
blue/b    .      .     .     X
red/a     .      .     .     X
red/b     .      .     X     X
"""

DB_INGRESS = policy_object(
    "blue",
    "db-ingress",
    {
        "podSelector": {"matchLabels": {"app": "db"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [
                    {"podSelector": {"matchLabels": {"app": "web"}}},
                    {"namespaceSelector": {"matchLabels": {"team": "trusted"}}},
                ]
            }
        ],
    },
)

# No policyTypes, stored without the webhook's defaults: the enforcer reads it with
# NetworkPolicy's defaults, [Ingress, Egress] (Ingress always, Egress as there are egress
# rules). With no ingress rule, red/b then accepts nothing, as a NetworkPolicy would.
CLIENT_EGRESS = policy_object(
    "red",
    "client-egress",
    {
        "podSelector": {"matchLabels": {"app": "client"}},
        "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"team": "blue"}}}]}],
    },
)

# Stored while no webhook guards the API: the except is outside its cidr.
BAD_EXCEPT = policy_object(
    "blue",
    "bad-except",
    {
        "podSelector": {},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24"]}}]}],
    },
)


def describe(cluster: EnforcerCluster, namespace: str, name: str) -> str:
    return cluster.kubectl("describe", "multi-networkpolicy", name, "-n", namespace)


def policy_events(cluster: EnforcerCluster, namespace: str, name: str) -> list[dict[str, Any]]:
    """The Event objects about one policy, oldest first."""
    listing = json.loads(
        cluster.kubectl(
            "get",
            "events",
            "-n",
            namespace,
            "--field-selector",
            f"involvedObject.kind=MultiNetworkPolicy,involvedObject.name={name}",
            "-o",
            "json",
        )
    )
    return sorted(listing["items"], key=lambda e: e.get("firstTimestamp") or "")


def event_reasons(cluster: EnforcerCluster, namespace: str, name: str) -> list[str]:
    """The reasons of the Events about one policy, oldest first, repeated by their count."""
    events = policy_events(cluster, namespace, name)
    return [e["reason"] for e in events for _ in range(int(e.get("count") or 1))]


def event_counts(cluster: EnforcerCluster, namespace: str, name: str) -> list[tuple[str, int]]:
    """(reason, count) of each Event object about one policy."""
    events = policy_events(cluster, namespace, name)
    return sorted((e["reason"], int(e.get("count") or 1)) for e in events)


def _until_events_counted(
    cluster: EnforcerCluster, namespace: str, name: str, want: list[tuple[str, int]]
) -> None:
    deadline = time.monotonic() + CONVERGE_TIMEOUT_S
    while (got := event_counts(cluster, namespace, name)) != want:
        if time.monotonic() > deadline:
            pytest.fail(f"events of {namespace}/{name}: {got}, expected {want}")
        time.sleep(POLL_INTERVAL_S)


def wait_for_describe(cluster: EnforcerCluster, namespace: str, name: str, *needles: str) -> str:
    deadline = time.monotonic() + CONVERGE_TIMEOUT_S
    while True:
        text = describe(cluster, namespace, name)
        if all(n in text for n in needles):
            return text
        if time.monotonic() > deadline:
            pytest.fail(
                f"kubectl describe multi-networkpolicy {name} -n {namespace} never showed "
                f"{needles}:\n{text}\nthe end of {cluster.enforcer.log}:\n"
                f"{cluster.enforcer.log_tail()}"
            )
        time.sleep(POLL_INTERVAL_S)


# --- tests ------------------------------------------------------------------------------


def test_policies_relabels_updates_and_deletes_follow_in_ovn(cluster: EnforcerCluster) -> None:
    cluster.apply(DB_INGRESS, CLIENT_EGRESS)
    cluster.wait_for_table("create two policies", DB_FROM_BLUE_WEB_CLIENT_TO_BLUE)

    cluster.kubectl("label", "pod", "a", "-n", "blue", "app=retired", "--overwrite")
    cluster.wait_for_table("relabel pod blue/a", DB_CLOSED)

    cluster.kubectl("label", "namespace", "red", "team=trusted", "--overwrite")
    cluster.wait_for_table("relabel namespace red", DB_FROM_TRUSTED_RED)

    updated = json.loads(json.dumps(DB_INGRESS))
    updated["spec"]["podSelector"] = {}
    updated["spec"]["ingress"] = [
        {"from": [{"namespaceSelector": {"matchLabels": {"team": "trusted"}}}]}
    ]
    cluster.apply(updated)
    cluster.wait_for_table("update blue/db-ingress", BLUE_FROM_TRUSTED_ONLY)

    cluster.kubectl("delete", "multi-networkpolicy", "db-ingress", "-n", "blue")
    cluster.wait_for_table("delete blue/db-ingress", CLIENT_TO_BLUE_ONLY)

    cluster.kubectl("delete", "multi-networkpolicy", "client-egress", "-n", "red")
    cluster.wait_for_table("delete red/client-egress", ALL_ALLOWED)


def test_describe_shows_applied_and_isolated_events(cluster: EnforcerCluster) -> None:
    good = policy_object(
        "red",
        "web-ingress",
        {
            "podSelector": {"matchLabels": {"app": "web"}},
            "ingress": [{"from": [{"podSelector": {}}]}],
        },
    )
    cluster.apply(good, BAD_EXCEPT)

    applied = wait_for_describe(cluster, "red", "web-ingress", "Applied")
    assert "Normal" in applied and "mnp-enforcer" in applied
    assert "enforced in OVN" in applied

    isolated = wait_for_describe(cluster, "blue", "bad-except", "Isolated")
    assert "Warning" in isolated and "mnp-enforcer" in isolated
    assert "isolating the selected pods with no allows until the policy is fixed" in isolated
    # The reason names the field and what is wrong with it.
    assert "spec.ingress[0].from[0].ipBlock.except[0]" in isolated
    assert "10.1.0.0/24" in isolated

    # The bad policy (never valid) fails safe: the pods it selects (all of blue) accept
    # nothing, while the good one (red's web pods from red only) is in force.
    cluster.wait_for_table(
        "isolating bad policy next to an applied one",
        """
        blue/a blue/b red/a red/b
blue/a    .      X     X     .
blue/b    X      .     X     .
red/a     X      X     .     .
red/b     X      X     .     .
""",
    )
    # Events report changes only: another reconcile with the same outcome adds none. (The
    # relabel must change rows: one no policy reads causes no reconcile at all.)
    reconciles = sample(cluster.enforcer.metrics(), "mnp_enforcer_reconcile_duration_seconds_count")
    cluster.kubectl("label", "pod", "b", "-n", "red", "app=web", "--overwrite")
    cluster.wait_for_metrics(
        "another reconcile",
        lambda s: sample(s, "mnp_enforcer_reconcile_duration_seconds_count") > reconciles,
    )
    assert event_reasons(cluster, "red", "web-ingress") == ["Applied"]
    assert event_reasons(cluster, "blue", "bad-except") == ["Isolated"]

    # A restarted enforcer reports each outcome again, on the same Event: its count goes up
    # instead of a copy being added (kubectl describe shows "x2").
    cluster.enforcer.stop()
    cluster.enforcer.start()
    _until_events_counted(cluster, "red", "web-ingress", [("Applied", 2)])
    _until_events_counted(cluster, "blue", "bad-except", [("Isolated", 2)])

    cluster.kubectl("delete", "multi-networkpolicy", "web-ingress", "-n", "red")
    cluster.kubectl("delete", "multi-networkpolicy", "bad-except", "-n", "blue")
    cluster.kubectl("label", "pod", "b", "-n", "red", "app=client", "--overwrite")


def test_metrics_expose_duration_rows_and_policies_by_state(cluster: EnforcerCluster) -> None:
    cluster.apply(BAD_EXCEPT, DB_INGRESS)

    samples = cluster.wait_for_metrics(
        "one applied, one isolated",
        lambda s: (
            sample(s, "mnp_enforcer_policies", state="applied") == 1
            and sample(s, "mnp_enforcer_policies", state="isolated") == 1
        ),
    )
    assert sample(samples, "mnp_enforcer_reconcile_duration_seconds_count") >= 1
    assert sample(samples, "mnp_enforcer_reconcile_duration_seconds_sum") > 0
    acl_inserts = sample(samples, "mnp_enforcer_nb_rows_written_total", table="ACL", op="insert")
    assert acl_inserts > 0
    for kind in ("MultiNetworkPolicy", "NetworkAttachmentDefinition", "Pod", "Namespace"):
        assert sample(samples, "mnp_enforcer_kube_lists_total", kind=kind) >= 1, kind

    cluster.kubectl("delete", "multi-networkpolicy", "db-ingress", "bad-except", "-n", "blue")
    samples = cluster.wait_for_metrics(
        "both deleted",
        lambda s: (
            sample(s, "mnp_enforcer_policies", state="applied") == 0
            and sample(s, "mnp_enforcer_policies", state="isolated") == 0
        ),
    )
    assert sample(samples, "mnp_enforcer_nb_rows_written_total", table="ACL", op="delete") > 0
    cluster.wait_for_table("all policies deleted", ALL_ALLOWED)
