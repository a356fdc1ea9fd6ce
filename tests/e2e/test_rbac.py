"""Each process's RBAC in config/ is least privilege, both ways (issue 11).

(a) Everything a role grants is on the written list of what the process uses, each entry
with the code that uses it, and the other way round: parsed from ``kubectl kustomize
config/``. (b) Actions outside the role are refused: by ``kubectl auth can-i --as`` and by
real requests with each process's own token. (c) The e2e tests that run the processes on
their tokens (test_webhook_admission, test_api_server_outage, test_cert_manager_webhook,
the enforcer tests through tests/support/enforcer_cluster.py) fail on a 403 in the
process's log; the last test here shows that check catches the API server's real refusal.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubewatch import api_client
from mnp_lab.kube import KubeControlPlane
from tests.support.certs import CertificateAuthority
from tests.support.kubectl import rendered_config
from tests.support.service_accounts import (
    ENFORCER_RBAC,
    ENFORCER_SA,
    SYSTEM_NAMESPACE,
    WEBHOOK_RBAC,
    WEBHOOK_SA,
    forbidden_lines,
    service_account_kubeconfig,
    service_account_user,
)
from tests.support.webhook_process import WebhookProcess, client_context

CNI = "k8s.cni.cncf.io"
COORDINATION = "coordination.k8s.io"
NADS = "network-attachment-definitions"
POLICIES = "multi-networkpolicies"
ANY = "*"  # a ClusterRoleBinding's namespace (all of them), or no resourceNames
LEASE = "mnp-enforcer"
WEBHOOK = service_account_user(SYSTEM_NAMESPACE, WEBHOOK_SA)
ENFORCER = service_account_user(SYSTEM_NAMESPACE, ENFORCER_SA)
_WAIT_S = 60.0  # a ceiling for polling, not an expectation


@dataclass(frozen=True, order=True)
class Grant:
    """One verb on one resource (of one name, or ``ANY``) in one namespace (or ``ANY``)."""

    namespace: str
    group: str
    resource: str
    verb: str
    name: str = ANY

    def can_i_args(self) -> list[str]:
        resource = f"{self.resource}.{self.group}" if self.group else self.resource
        if self.name != ANY:
            resource += f"/{self.name}"
        where = ["--all-namespaces"] if self.namespace == ANY else ["-n", self.namespace]
        return ["auth", "can-i", self.verb, resource, *where]


# What each process does with the API server, and the code that does it. A role granting
# anything else, or lacking any of these, fails test_roles_grant_exactly_what_is_used.
USED: dict[str, dict[Grant, str]] = {
    WEBHOOK: {
        Grant(ANY, CNI, NADS, "list"): "webhook/nad_cache.py ClusterSource: kubewatch lists NADs",
        Grant(ANY, CNI, NADS, "watch"): "webhook/nad_cache.py ClusterSource: and watches them",
        Grant(ANY, CNI, NADS, "get"): (
            "webhook/nad_cache.py ClusterSource.get: get_namespaced_custom_object on a cache miss"
        ),
        Grant(ANY, CNI, POLICIES, "list"): (
            "webhook/nad_cache.py ClusterSource: policies listed, to warn which a NAD change hits"
        ),
        Grant(ANY, CNI, POLICIES, "watch"): "webhook/nad_cache.py ClusterSource: and watched",
    },
    ENFORCER: {
        **{
            Grant(ANY, group, resource, verb): (
                f"enforcer/sources/kube.py KubeSource: a kubewatch Watcher of {resource}"
            )
            for group, resource in (("", "pods"), ("", "namespaces"), (CNI, NADS), (CNI, POLICIES))
            for verb in ("list", "watch")
        },
        Grant(
            ANY, "", "events", "create"
        ): "enforcer/events.py kube_event_sink: create_namespaced_event",
        Grant(ANY, "", "events", "get"): (
            "enforcer/events.py kube_event_sink: read_namespaced_event after a 409, for its count"
        ),
        Grant(ANY, "", "events", "patch"): (
            "enforcer/events.py kube_event_sink: patch_namespaced_event bumps the count"
        ),
        Grant(SYSTEM_NAMESPACE, COORDINATION, "leases", "get", LEASE): (
            "enforcer/leader.py LeaderElector._read: read_namespaced_lease"
        ),
        Grant(SYSTEM_NAMESPACE, COORDINATION, "leases", "update", LEASE): (
            "enforcer/leader.py LeaderElector: replace_namespaced_lease to acquire, renew, release"
        ),
        Grant(SYSTEM_NAMESPACE, COORDINATION, "leases", "create"): (
            "enforcer/leader.py LeaderElector: create_namespaced_lease when there is none yet"
        ),
    },
}

# Outside the roles: each must be refused by the API server's authorizer.
DENIED: list[tuple[str, Grant]] = [
    (WEBHOOK, Grant("default", CNI, POLICIES, "create")),
    (WEBHOOK, Grant("default", CNI, POLICIES, "update")),
    (WEBHOOK, Grant("default", CNI, POLICIES, "get")),
    (WEBHOOK, Grant("default", CNI, NADS, "update")),
    (WEBHOOK, Grant("default", CNI, NADS, "delete")),
    (WEBHOOK, Grant(SYSTEM_NAMESPACE, "", "secrets", "get")),
    (WEBHOOK, Grant(SYSTEM_NAMESPACE, "", "secrets", "list")),
    (WEBHOOK, Grant(ANY, "", "pods", "list")),
    (WEBHOOK, Grant("default", "", "pods", "get")),
    (WEBHOOK, Grant("default", "", "events", "create")),
    (WEBHOOK, Grant(SYSTEM_NAMESPACE, COORDINATION, "leases", "get", LEASE)),
    (ENFORCER, Grant("default", CNI, NADS, "update")),
    (ENFORCER, Grant("default", CNI, NADS, "patch")),
    (ENFORCER, Grant("default", CNI, NADS, "get")),
    (ENFORCER, Grant("default", CNI, POLICIES, "create")),
    (ENFORCER, Grant("default", CNI, POLICIES, "update")),
    (ENFORCER, Grant("default", "", "pods", "delete")),
    (ENFORCER, Grant("default", "", "pods", "patch")),
    (ENFORCER, Grant("default", "", "pods", "get")),
    (ENFORCER, Grant(SYSTEM_NAMESPACE, "", "secrets", "get")),
    (ENFORCER, Grant(SYSTEM_NAMESPACE, "", "secrets", "list")),
    (ENFORCER, Grant("default", "", "events", "delete")),
    (ENFORCER, Grant("default", "events.k8s.io", "events", "create")),
    (ENFORCER, Grant(SYSTEM_NAMESPACE, COORDINATION, "leases", "update", "other")),
    (ENFORCER, Grant(SYSTEM_NAMESPACE, COORDINATION, "leases", "get", "other")),
    (ENFORCER, Grant(SYSTEM_NAMESPACE, COORDINATION, "leases", "delete", LEASE)),
    (ENFORCER, Grant(SYSTEM_NAMESPACE, COORDINATION, "leases", "list")),
    (ENFORCER, Grant("default", COORDINATION, "leases", "create")),
    (ENFORCER, Grant("default", COORDINATION, "leases", "update", LEASE)),
    (ENFORCER, Grant(ANY, COORDINATION, "leases", "get", LEASE)),
]


# --- what config/ grants ----------------------------------------------------------------


def _rule_grants(rule: dict[str, Any], namespace: str) -> set[Grant]:
    return {
        Grant(namespace, group, resource, verb, name)
        for group in rule.get("apiGroups", [""])
        for resource in rule["resources"]
        for verb in rule["verbs"]
        for name in rule.get("resourceNames") or [ANY]
    }


def granted(objects: list[dict[str, Any]]) -> dict[str, set[Grant]]:
    """Subject -> every Grant its bindings give it (ServiceAccounts as their user name)."""
    roles = {
        (o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
        for o in objects
        if o["kind"] in ("ClusterRole", "Role")
    }
    grants: dict[str, set[Grant]] = {}
    for binding in objects:
        if binding["kind"] not in ("ClusterRoleBinding", "RoleBinding"):
            continue
        namespace = binding["metadata"].get("namespace", ANY)
        ref = binding["roleRef"]
        role_ns = "" if ref["kind"] == "ClusterRole" else namespace
        role = roles[(ref["kind"], role_ns, ref["name"])]
        assert "aggregationRule" not in role, f"{ref['name']}: aggregated roles are not parsed"
        for subject in binding["subjects"]:
            user = (
                service_account_user(subject["namespace"], subject["name"])
                if subject["kind"] == "ServiceAccount"
                else f"{subject['kind']}:{subject['name']}"
            )
            for rule in role.get("rules") or []:
                grants.setdefault(user, set()).update(_rule_grants(rule, namespace))
    return grants


def test_roles_grant_exactly_what_is_used(kube: KubeControlPlane) -> None:
    grants = granted(rendered_config(kube))

    assert sorted(grants) == sorted(USED), "config/ binds roles to unexpected subjects"
    for user, used in USED.items():
        unused = sorted(grants[user] - set(used))
        missing = sorted(set(used) - grants[user])
        assert not unused, f"{user} is granted what it never uses: {unused}"
        assert not missing, f"{user} uses what its role lacks: {missing}"


# --- the API server's authorizer --------------------------------------------------------


@pytest.fixture(scope="module")
def tokens(mnp_crds: KubeControlPlane) -> dict[str, Path]:
    """config/'s RBAC applied; user name -> a kubeconfig with that ServiceAccount's token."""
    return {
        WEBHOOK: service_account_kubeconfig(mnp_crds, SYSTEM_NAMESPACE, WEBHOOK_SA, [WEBHOOK_RBAC]),
        ENFORCER: service_account_kubeconfig(
            mnp_crds, SYSTEM_NAMESPACE, ENFORCER_SA, [ENFORCER_RBAC]
        ),
    }


def can_i(kube: KubeControlPlane, user: str, grant: Grant) -> str:
    result = kube.kubectl(*grant.can_i_args(), f"--as={user}", check=False)
    return result.stdout.strip() or result.stderr.strip()


@pytest.mark.parametrize(
    ("user", "grant"),
    [(user, grant) for user, used in USED.items() for grant in sorted(used)],
    ids=lambda v: v.split(":")[-1] if isinstance(v, str) else f"{v.verb}-{v.resource}-{v.name}",
)
def test_what_is_used_is_allowed(
    mnp_crds: KubeControlPlane, tokens: dict[str, Path], user: str, grant: Grant
) -> None:
    assert can_i(mnp_crds, user, grant) == "yes"


@pytest.mark.parametrize(
    ("user", "grant"),
    DENIED,
    ids=[
        f"{u.split(':')[-1]}-{g.verb}-{g.resource}-{g.namespace}-{g.name}".replace("*", "all")
        for u, g in DENIED
    ],
)
def test_actions_outside_the_role_are_denied(
    mnp_crds: KubeControlPlane, tokens: dict[str, Path], user: str, grant: Grant
) -> None:
    assert can_i(mnp_crds, user, grant) == "no"


# --- real requests with each token ------------------------------------------------------

POLICY = {
    "apiVersion": f"{CNI}/v1beta1",
    "kind": "MultiNetworkPolicy",
    "metadata": {"name": "by-the-webhook", "namespace": "default"},
    "spec": {"podSelector": {}},
}
LEASE_BODY = {
    "apiVersion": f"{COORDINATION}/v1",
    "kind": "Lease",
    "metadata": {"name": "other", "namespace": SYSTEM_NAMESPACE},
    "spec": {"holderIdentity": "mnp-enforcer"},
}


def _webhook_requests(api: Any) -> dict[str, Callable[[], Any]]:
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    return {
        "create a MultiNetworkPolicy": lambda: custom.create_namespaced_custom_object(
            CNI, "v1beta1", "default", POLICIES, POLICY
        ),
        "read Secrets": lambda: core.list_namespaced_secret(SYSTEM_NAMESPACE),
        "list pods": lambda: core.list_pod_for_all_namespaces(),
    }


def _enforcer_requests(api: Any) -> dict[str, Callable[[], Any]]:
    custom, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    leases: Any = client.CoordinationV1Api(api)  # given plain dicts, as enforcer/leader.py
    return {
        "update a NAD": lambda: custom.patch_namespaced_custom_object(
            CNI, "v1", "default", NADS, "any", {"metadata": {"labels": {"x": "y"}}}
        ),
        "delete a pod": lambda: core.delete_namespaced_pod("any", "default"),
        "read a Secret": lambda: core.read_namespaced_secret("any", SYSTEM_NAMESPACE),
        "update another Lease": lambda: leases.replace_namespaced_lease(
            "other", SYSTEM_NAMESPACE, LEASE_BODY
        ),
        "create a Lease in another namespace": lambda: leases.create_namespaced_lease(
            "default", {**LEASE_BODY, "metadata": {"name": LEASE, "namespace": "default"}}
        ),
    }


def _allowed(request: Callable[[], Any]) -> None:
    """``request`` succeeds; a CRD's storage answers 429 for a moment after it is
    established ("storage is (re)initializing"), so that answer is asked again."""
    deadline = time.monotonic() + _WAIT_S
    while True:
        try:
            request()
            return
        except ApiException as e:
            if e.status != 429 or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


@pytest.mark.parametrize("user", [WEBHOOK, ENFORCER], ids=["webhook", "enforcer"])
def test_real_requests_outside_the_role_get_403(tokens: dict[str, Path], user: str) -> None:
    api = api_client(tokens[user])
    # The token works for what the role grants (so the 403s below are the role's doing) ...
    if user == WEBHOOK:
        _allowed(lambda: client.CustomObjectsApi(api).list_cluster_custom_object(CNI, "v1", NADS))
    else:
        _allowed(lambda: client.CoreV1Api(api).list_pod_for_all_namespaces())
    requests = _webhook_requests(api) if user == WEBHOOK else _enforcer_requests(api)
    for action, request in requests.items():
        with pytest.raises(ApiException) as refused:
            request()
        assert refused.value.status == 403, f"{action}: {refused.value}"
        message = json.loads(refused.value.body or "{}").get("message", "")
        assert f'is forbidden: User "{user}" cannot' in message, f"{action}: {message}"


# --- the log check of (c) catches a real refusal ----------------------------------------


@pytest.fixture
def webhook_without_its_role(
    mnp_crds: KubeControlPlane, tmp_path: Path
) -> Iterator[tuple[WebhookProcess, str]]:
    """``mnp webhook`` on a token of a ServiceAccount that nothing is bound to."""
    name = "mnp-webhook-no-role"
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "namespace": SYSTEM_NAMESPACE},
    }
    rbac = tmp_path / "account.yaml"
    rbac.write_text(yaml.safe_dump(account))
    kubeconfig = service_account_kubeconfig(mnp_crds, SYSTEM_NAMESPACE, name, [rbac])
    ca = CertificateAuthority("mnp rbac test CA")
    ca.issue_server(["localhost", "127.0.0.1"]).write(tmp_path / "tls")
    webhook = WebhookProcess(
        [f"--cert-dir={tmp_path / 'tls'}", f"--kubeconfig={kubeconfig}"], tmp_path / "webhook.log"
    )
    try:
        yield webhook, ca.cert_pem.decode()
    finally:
        webhook.stop()
        mnp_crds.kubectl("delete", "-f", str(rbac), "--ignore-not-found")


def _readyz_status(webhook: WebhookProcess, ca_pem: str) -> int | None:
    """/readyz's status code; None while the port does not answer yet."""
    try:
        response = httpx.get(
            f"{webhook.url}/readyz", verify=client_context(ca_pem.encode()), timeout=5
        )
    except httpx.HTTPError:
        return None
    return response.status_code


def test_the_log_check_catches_a_webhook_refused_by_the_api_server(
    webhook_without_its_role: tuple[WebhookProcess, str],
) -> None:
    webhook, ca_pem = webhook_without_its_role
    user = service_account_user(SYSTEM_NAMESPACE, "mnp-webhook-no-role")
    deadline = time.monotonic() + _WAIT_S
    while not forbidden_lines(webhook.log()) or _readyz_status(webhook, ca_pem) is None:
        assert webhook.proc.poll() is None, webhook.log()
        assert time.monotonic() < deadline, f"no 403 logged, or no /readyz:\n{webhook.log()}"
        time.sleep(0.2)

    found = forbidden_lines(webhook.log())
    assert any(user in line for line in found), found
    # Refused its lists, it never syncs, so it never reports ready.
    assert _readyz_status(webhook, ca_pem) == 503
