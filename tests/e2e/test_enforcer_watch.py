"""The enforcer's watches across API server restarts and expiry (410 Gone).

Same cluster shape as ``test_enforcer_kube`` (own etcd, kube-apiserver, OVN and a real
``mnp enforcer --source kube`` process), in a module of its own because it restarts the
API server.

Forcing expiry: the enforcer is paused (SIGSTOP) while the API server restarts, objects
change, and etcd is compacted to its current revision. When it resumes, its watches resume
from resourceVersions that the new server's watch cache (which starts at etcd's revision
at restart) and etcd no longer have: 410 Gone. Only a relist can then see what changed,
including a policy deleted in the meantime. The test first checks the premise itself: a
watch from the enforcer's last resourceVersion is answered with 410.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from mnp_lab.kube import KubeControlPlane
from tests.support.enforcer_cluster import (
    ALL_ALLOWED,
    EnforcerCluster,
    Samples,
    policy_object,
    sample,
    start_cluster,
)
from tests.support.etcd import compact_etcd

MNP_PATH = "/apis/k8s.cni.cncf.io/v1beta1/multi-networkpolicies"

# blue/b accepts only pods of its own namespace.
BLUE_B_FROM_BLUE = policy_object(
    "blue",
    "b-from-blue",
    {
        "podSelector": {"matchLabels": {"app": "db"}},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [{"podSelector": {}}]}],
    },
)
# red/a accepts only app=web pods, from any namespace.
RED_A_FROM_WEB = policy_object(
    "red",
    "a-from-web",
    {
        "podSelector": {"matchLabels": {"app": "web"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "web"}}}]}
        ],
    },
)

BLUE_B_CLOSED_TO_RED = """
        blue/a blue/b red/a red/b
blue/a    .      .     .     .
blue/b    .      .     .     .
red/a     .      X     .     .
red/b     .      X     .     .
"""

# After the restart: b-from-blue also admits app=web pods of team=red namespaces, and
# red/a (app=web -> retired) and red/b (app=client -> web) swap roles.
BLUE_B_FROM_BLUE_AND_RED_WEB = """
        blue/a blue/b red/a red/b
blue/a    .      .     .     .
blue/b    .      .     .     .
red/a     .      X     .     .
red/b     .      .     .     .
"""

# b-from-blue deleted and a-from-web created while the enforcer was paused, and blue/a
# (web -> retired) and blue/b (db -> web) relabelled: of the others, only blue/b reaches red/a.
RED_A_FROM_WEB_ONLY = """
        blue/a blue/b red/a red/b
blue/a    .      .     X     .
blue/b    .      .     .     .
red/a     .      .     .     .
red/b     .      .     X     .
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnforcerCluster]:
    yield from start_cluster(tmp_path_factory.mktemp("enforcer-watch"))


def list_resource_version(kube: KubeControlPlane) -> str:
    listing = json.loads(kube.kubectl("get", "--raw", MNP_PATH).stdout)
    rv: str = listing["metadata"]["resourceVersion"]
    return rv


def watch_from(kube: KubeControlPlane, resource_version: str) -> list[dict[str, Any]]:
    """The first events of a watch from ``resource_version`` (closed by the server at once)."""
    out = kube.kubectl(
        "get",
        "--raw",
        f"{MNP_PATH}?watch=1&resourceVersion={resource_version}&timeoutSeconds=1",
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def errors(samples: Samples, kind: str, reason: str) -> float:
    return sample(samples, "mnp_enforcer_kube_watch_errors_total", kind=kind, reason=reason)


def lists(samples: Samples, kind: str) -> float:
    return sample(samples, "mnp_enforcer_kube_lists_total", kind=kind)


def test_api_server_restart_mid_watch(cluster: EnforcerCluster) -> None:
    pid = cluster.enforcer.proc.pid if cluster.enforcer.proc else None
    cluster.apply(BLUE_B_FROM_BLUE)
    cluster.wait_for_table("policy created", BLUE_B_CLOSED_TO_RED)
    before = cluster.enforcer.metrics()

    cluster.kube.restart_apiserver()
    updated = json.loads(json.dumps(BLUE_B_FROM_BLUE))
    updated["spec"]["ingress"][0]["from"].append(
        {
            "namespaceSelector": {"matchLabels": {"team": "red"}},
            "podSelector": {"matchLabels": {"app": "web"}},
        }
    )
    cluster.apply(updated)
    cluster.kubectl("label", "pod", "a", "-n", "red", "app=retired", "--overwrite")
    cluster.kubectl("label", "pod", "b", "-n", "red", "app=web", "--overwrite")
    cluster.wait_for_table("changes after the restart", BLUE_B_FROM_BLUE_AND_RED_WEB)
    # The same process rode through the restart; its watches broke and were re-established.
    assert cluster.enforcer.proc is not None and cluster.enforcer.proc.pid == pid
    after = cluster.enforcer.metrics()
    broken = sum(
        v - before.get(key, 0.0)
        for key, v in after.items()
        if key[0] == "mnp_enforcer_kube_watch_errors_total"
    )
    assert broken >= 1, "no watch failure was counted across an API server restart"

    cluster.kubectl("delete", "multi-networkpolicy", "b-from-blue", "-n", "blue")
    cluster.kubectl("label", "pod", "a", "-n", "red", "app=web", "--overwrite")
    cluster.kubectl("label", "pod", "b", "-n", "red", "app=client", "--overwrite")
    cluster.wait_for_table("policy deleted, labels back", ALL_ALLOWED)


def test_watch_expiry_relists_and_converges(cluster: EnforcerCluster) -> None:
    cluster.apply(BLUE_B_FROM_BLUE)
    cluster.wait_for_table("policy created", BLUE_B_CLOSED_TO_RED)
    seen_rv = list_resource_version(cluster.kube)  # at least as new as the enforcer's
    before = cluster.enforcer.metrics()

    cluster.enforcer.pause()
    try:
        # A write elsewhere, so that the new server's watch cache starts past ``seen_rv``.
        cluster.kubectl("annotate", "namespace", "default", f"mnp.test/at={seen_rv}")
        cluster.kube.restart_apiserver()
        cluster.kubectl("delete", "multi-networkpolicy", "b-from-blue", "-n", "blue")
        cluster.apply(RED_A_FROM_WEB)
        cluster.kubectl("label", "pod", "a", "-n", "blue", "app=retired", "--overwrite")
        cluster.kubectl("label", "pod", "b", "-n", "blue", "app=web", "--overwrite")
        compact_etcd(cluster.kube)
        # The premise: resuming a watch from where the enforcer stopped is 410 Gone.
        events = watch_from(cluster.kube, seen_rv)
        assert events and events[0]["type"] == "ERROR", events
        assert events[0]["object"]["code"] == 410, events
    finally:
        cluster.enforcer.resume()

    cluster.wait_for_table("after the relist", RED_A_FROM_WEB_ONLY)
    kind = "MultiNetworkPolicy"
    after = cluster.wait_for_metrics(
        "relist counted",
        lambda s: (
            errors(s, kind, "expired") > errors(before, kind, "expired")
            and lists(s, kind) > lists(before, kind)
        ),
    )
    assert lists(after, "Pod") > lists(before, "Pod")

    cluster.kubectl("delete", "multi-networkpolicy", "a-from-web", "-n", "red")
    cluster.kubectl("label", "pod", "a", "-n", "blue", "app=web", "--overwrite")
    cluster.kubectl("label", "pod", "b", "-n", "blue", "app=db", "--overwrite")
    cluster.wait_for_table("policy deleted, labels back", ALL_ALLOWED)
