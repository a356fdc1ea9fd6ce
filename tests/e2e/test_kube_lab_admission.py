"""What a policy author sees with kubectl, in the full lab (``KubeLab``): a real
kube-apiserver calling ``mnp webhook`` through config/'s webhook configurations.

One lab serves the whole module (it takes about ten seconds to start). Each test works in
namespaces of its own; the certificate-rotation and failure-policy tests come last, and
leave the webhook serving as before. kubectl runs from the repository root with relative
paths, so the expected lines are exactly what a user running the same command sees.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mnp_lab.kube_binaries import ensure_binaries
from mnp_lab.kube_lab import KubeLab
from tests.support.paths import REPO_ROOT

INVALID = REPO_ROOT / "examples" / "invalid"
WARNINGS = REPO_ROOT / "examples" / "warnings"
DOCS_ORDERING = REPO_ROOT / "docs" / "ordering.md"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeLab]:
    binaries = ensure_binaries(progress=sys.stderr)
    started = KubeLab(tmp_path_factory.mktemp("kube-lab"), binaries).start()
    try:
        yield started
    finally:
        started.stop()


def kubectl(
    lab: KubeLab, *args: str, input: str | None = None, cwd: Path = REPO_ROOT
) -> subprocess.CompletedProcess[str]:
    """kubectl as a user runs it: from ``cwd``, with KUBECONFIG pointing at the lab."""
    env = dict(os.environ, KUBECONFIG=str(lab.kubeconfig))
    return subprocess.run(
        [str(lab.binaries.kubectl), *args],
        input=input,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
        timeout=120,
    )


def apply_objects(lab: KubeLab, *objects: dict[str, Any]) -> None:
    doc = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    result = kubectl(lab, "apply", "-f", "-", input=json.dumps(doc))
    assert result.returncode == 0, result.stderr


def create_namespace(lab: KubeLab, name: str) -> None:
    apply_objects(lab, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})


def nad(namespace: str, name: str, subnets: str | None = "192.168.10.0/24") -> dict[str, Any]:
    config: dict[str, Any] = {
        "cniVersion": "0.4.0",
        "name": f"{namespace}-{name}",
        "netAttachDefName": f"{namespace}/{name}",
        "topology": "layer2",
        "type": "ovn-k8s-cni-overlay",
    }
    if subnets:
        config["subnets"] = subnets
    return {
        "apiVersion": "k8s.cni.cncf.io/v1",
        "kind": "NetworkAttachmentDefinition",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"config": json.dumps(config)},
    }


def policy(namespace: str, name: str, spec: dict[str, Any], policy_for: str) -> dict[str, Any]:
    return {
        "apiVersion": "k8s.cni.cncf.io/v1beta1",
        "kind": "MultiNetworkPolicy",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {"k8s.v1.cni.cncf.io/policy-for": policy_for},
        },
        "spec": spec,
    }


def stored_policies(lab: KubeLab, namespace: str) -> list[str]:
    out = kubectl(lab, "get", "multi-policy", "-n", namespace, "-o", "name")
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


# --- invalid policies --------------------------------------------------------------------

_DENIED = (
    'Error from server (Forbidden): error when creating "examples/invalid/{file}": '
    'admission webhook "multinetworkpolicy.mnp.k8s.cni.cncf.io" denied the request: '
    'MultiNetworkPolicy.k8s.cni.cncf.io "{name}" is invalid: '
)

# The whole kubectl stderr for `kubectl apply -f examples/invalid/FILE`, run from the
# repository root (each file brings its NAD, which is created or unchanged).
DENIALS = {
    "endport-below-port.yaml": _DENIED.format(
        file="endport-below-port.yaml", name="port-range-backwards"
    )
    # kube-apiserver v1.35 shows `port`'s value here (v1.37 would show endPort's, 80).
    + "spec.ingress[0].ports[0].endPort: Invalid value: 8080: must be greater than or equal to "
    "`port`",
    "except-not-subset.yaml": _DENIED.format(
        file="except-not-subset.yaml", name="except-outside-cidr"
    )
    + 'spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "10.1.0.0/24": must be a strict '
    "subset of `cidr`",
    "ipblock-and-selector.yaml": _DENIED.format(
        file="ipblock-and-selector.yaml", name="peer-with-ipblock-and-selector"
    )
    + "spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer",
    "lowercase-protocol.yaml": _DENIED.format(
        file="lowercase-protocol.yaml", name="lowercase-protocol"
    )
    + 'spec.ingress[0].ports[0].protocol: Unsupported value: "tcp": supported values: "TCP", '
    '"UDP", "SCTP"',
    "missing-policy-for.yaml": _DENIED.format(file="missing-policy-for.yaml", name="no-policy-for")
    + "metadata.annotations[k8s.v1.cni.cncf.io/policy-for]: Required value: the policy applies "
    "to no network: set the annotation k8s.v1.cni.cncf.io/policy-for to the "
    "NetworkAttachmentDefinitions this policy applies to, as comma-separated `namespace/name` "
    'or `name` entries (a bare name means the policy\'s own namespace), e.g. "tenant-blue" or '
    '"default/tenant-blue,other/tenant-red"',
    "policy-for-unknown-nad.yaml": _DENIED.format(
        file="policy-for-unknown-nad.yaml", name="unknown-nad"
    )
    + 'metadata.annotations[k8s.v1.cni.cncf.io/policy-for]: Not found: "default/tenant-red": '
    "NetworkAttachmentDefinition default/tenant-red does not exist: create the "
    "NetworkAttachmentDefinition first, then the policy",
    "port-name-too-long.yaml": _DENIED.format(file="port-name-too-long.yaml", name="long-port-name")
    + 'spec.ingress[0].ports[0].port: Invalid value: "metrics-endpoint-https": must be no more '
    "than 15 characters",
    "selector-peer-ipamless.yaml": _DENIED.format(
        file="selector-peer-ipamless.yaml", name="selector-on-ipamless"
    )
    + "spec.ingress[0].from[1]: Forbidden: NetworkAttachmentDefinition default/ipamless-l2 is a "
    "layer2 network without `subnets`, and IPAM-less networks can only have `ipBlock` peers: "
    "replace this podSelector/namespaceSelector peer with ipBlock peers, or add `subnets` to "
    "the NetworkAttachmentDefinition",
}


def test_every_invalid_example_has_an_expected_denial() -> None:
    assert sorted(DENIALS) == sorted(p.name for p in INVALID.glob("*.yaml"))


@pytest.mark.parametrize("file", sorted(DENIALS))
def test_invalid_example_is_denied_with_the_whole_kubectl_line(lab: KubeLab, file: str) -> None:
    result = kubectl(lab, "apply", "-f", f"examples/invalid/{file}")

    assert result.returncode == 1
    assert result.stderr.splitlines() == [DENIALS[file]]
    # The NAD in the same file was applied; the policy was not stored.
    assert result.stdout.startswith("networkattachmentdefinition.k8s.cni.cncf.io/")
    name = re.search(r'MultiNetworkPolicy.k8s.cni.cncf.io "([^"]+)"', DENIALS[file])
    assert name is not None
    assert f"multinetworkpolicy.k8s.cni.cncf.io/{name.group(1)}" not in stored_policies(
        lab, "default"
    )


# --- valid policies: defaults -----------------------------------------------------------


def test_valid_policy_is_stored_with_defaults(lab: KubeLab) -> None:
    create_namespace(lab, "defaults")
    apply_objects(lab, nad("defaults", "blue"))
    spec = {
        "podSelector": {"matchLabels": {"app": "server"}},
        "ingress": [{"ports": [{"port": 80}, {"port": 53, "protocol": "UDP"}]}],
        "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 443}]}],
    }
    result = kubectl(
        lab, "apply", "-f", "-", input=json.dumps(policy("defaults", "web", spec, "blue"))
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "multinetworkpolicy.k8s.cni.cncf.io/web created\n"
    assert result.stderr == ""

    stored = json.loads(
        kubectl(lab, "get", "multi-policy", "web", "-n", "defaults", "-o", "json").stdout
    )

    assert stored["spec"] == {
        "podSelector": {"matchLabels": {"app": "server"}},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}],
        "egress": [
            {
                "to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}],
                "ports": [{"port": 443, "protocol": "TCP"}],
            }
        ],
    }


# --- warnings ---------------------------------------------------------------------------

WARNING_LINES = {
    "egress-without-egress-type.yaml": [
        "Warning: spec.egress: 1 egress rule(s) have no effect because spec.policyTypes "
        '["Ingress"] does not include "Egress": add "Egress" to spec.policyTypes, or remove '
        "spec.egress"
    ],
    "non-canonical-cidr.yaml": [
        'Warning: spec.ingress[0].from[0].ipBlock.cidr: CIDR value "10.20.30.40/24" is ambiguous '
        'in this context (should be "10.20.30.0/24" or "10.20.30.40/32"?)'
    ],
}


@pytest.mark.parametrize("file", sorted(WARNING_LINES))
def test_suspicious_policy_is_admitted_with_kubectl_warnings(lab: KubeLab, file: str) -> None:
    assert sorted(WARNING_LINES) == sorted(p.name for p in WARNINGS.glob("*.yaml"))

    result = kubectl(lab, "apply", "-f", f"examples/warnings/{file}")

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == WARNING_LINES[file]
    assert result.stdout.splitlines()[-1].startswith("multinetworkpolicy.k8s.cni.cncf.io/")
    assert result.stdout.splitlines()[-1].endswith(" created")


# --- the NAD guard ----------------------------------------------------------------------


def test_deleting_a_targeted_nad_warns_naming_the_policies(lab: KubeLab) -> None:
    create_namespace(lab, "guarded")
    apply_objects(
        lab,
        nad("guarded", "green"),
        policy("guarded", "uses-green", {"podSelector": {}}, "green"),
        policy("guarded", "also-green", {"podSelector": {}}, "guarded/green"),
    )
    expected = [
        f"Warning: MultiNetworkPolicy guarded/{name} targets NetworkAttachmentDefinition "
        "guarded/green, which is being deleted: the policy will not be enforced on that network "
        "until the NetworkAttachmentDefinition exists again"
        for name in ("also-green", "uses-green")
    ]
    # The guard reads the webhook's informer cache, which may lag the create by a moment:
    # dry runs (no side effects) until it has both policies, then the real delete.
    _until(
        lambda: (
            sorted(
                kubectl(
                    lab, "delete", "--dry-run=server", "net-attach-def", "green", "-n", "guarded"
                ).stderr.splitlines()
            )
            == expected
        )
    )

    result = kubectl(lab, "delete", "net-attach-def", "green", "-n", "guarded")

    assert result.returncode == 0
    assert sorted(result.stderr.splitlines()) == expected
    assert result.stdout == (
        'networkattachmentdefinition.k8s.cni.cncf.io "green" deleted from guarded namespace\n'
    )


# --- order of arrival --------------------------------------------------------------------


def _ordering_tree(root: Path) -> Path:
    """The layout docs/ordering.md describes: nads/ (Namespace, NAD) and policies/."""
    (root / "nads").mkdir(parents=True)
    (root / "policies").mkdir()
    (root / "nads" / "tenant-a.yaml").write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "List",
                "items": [
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tenant-a"}},
                    nad("tenant-a", "tenant-net"),
                ],
            }
        )
    )
    allow = policy(
        "tenant-a",
        "allow-from-clients",
        {
            "podSelector": {"matchLabels": {"app": "server"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}]}],
        },
        "tenant-net",
    )
    (root / "policies" / "allow-from-clients.yaml").write_text(json.dumps(allow))
    return root


def _recipe() -> str:
    """The one shell block of docs/ordering.md."""
    blocks = re.findall(r"```sh\n(.*?)```", DOCS_ORDERING.read_text(), flags=re.S)
    assert len(blocks) == 1, f"{DOCS_ORDERING} should hold exactly one ```sh block"
    return str(blocks[0])


def test_a_policy_before_its_nad_is_denied_and_says_to_create_the_nad_first(
    lab: KubeLab, tmp_path: Path
) -> None:
    root = _ordering_tree(tmp_path / "early")
    create_namespace(lab, "tenant-a")

    result = kubectl(lab, "apply", "-f", "policies/", cwd=root)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        'Error from server (Forbidden): error when creating "policies/allow-from-clients.yaml": '
        'admission webhook "multinetworkpolicy.mnp.k8s.cni.cncf.io" denied the request: '
        'MultiNetworkPolicy.k8s.cni.cncf.io "allow-from-clients" is invalid: '
        'metadata.annotations[k8s.v1.cni.cncf.io/policy-for]: Not found: "tenant-a/tenant-net": '
        "NetworkAttachmentDefinition tenant-a/tenant-net does not exist: create the "
        "NetworkAttachmentDefinition first, then the policy"
    ]
    assert stored_policies(lab, "tenant-a") == []
    # The docs quote this very line.
    assert result.stderr.splitlines()[0] in DOCS_ORDERING.read_text()


def test_ordering_recipe_from_the_docs(lab: KubeLab, tmp_path: Path) -> None:
    root = _ordering_tree(tmp_path / "recipe")
    env = dict(
        os.environ,
        KUBECONFIG=str(lab.kubeconfig),
        PATH=f"{lab.binaries.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    )

    result = subprocess.run(
        ["bash", "-e", "-c", _recipe()],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines()[-1] == (
        "multinetworkpolicy.k8s.cni.cncf.io/allow-from-clients created"
    )
    assert stored_policies(lab, "tenant-a") == [
        "multinetworkpolicy.k8s.cni.cncf.io/allow-from-clients"
    ]


def test_kustomize_default_order_puts_nads_before_policies(tmp_path: Path) -> None:
    """docs/ordering.md's claim about `kubectl apply -k`, checked on kubectl's kustomize."""
    listed_policy_first = [
        policy("tenant-k", "p", {"podSelector": {}}, "net"),
        nad("tenant-k", "net"),
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tenant-k"}},
    ]
    for i, obj in enumerate(listed_policy_first):
        (tmp_path / f"{i}.yaml").write_text(json.dumps(obj))
    (tmp_path / "kustomization.yaml").write_text(
        json.dumps({"resources": [f"{i}.yaml" for i in range(len(listed_policy_first))]})
    )
    kubectl_bin = ensure_binaries(progress=sys.stderr).kubectl

    out = subprocess.run(
        [str(kubectl_bin), "kustomize", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout

    kinds = [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("kind: ")]
    assert kinds == ["Namespace", "NetworkAttachmentDefinition", "MultiNetworkPolicy"]


# --- dry run -----------------------------------------------------------------------------


def test_server_dry_run_is_validated_and_stores_nothing(lab: KubeLab) -> None:
    create_namespace(lab, "dry")
    apply_objects(lab, nad("dry", "blue"))
    bad = policy("dry", "bad", {"podSelector": {}, "ingress": [{"ports": [{"port": 0}]}]}, "blue")
    good = policy(
        "dry", "good", {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}, "blue"
    )

    denied = kubectl(lab, "create", "--dry-run=server", "-f", "-", input=json.dumps(bad))
    admitted = kubectl(
        lab, "create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(good)
    )

    assert denied.returncode == 1
    assert denied.stderr.splitlines() == [
        'Error from server (Forbidden): error when creating "STDIN": admission webhook '
        '"multinetworkpolicy.mnp.k8s.cni.cncf.io" denied the request: '
        'MultiNetworkPolicy.k8s.cni.cncf.io "bad" is invalid: spec.ingress[0].ports[0].port: '
        "Invalid value: 0: must be between 1 and 65535, inclusive"
    ]
    assert admitted.returncode == 0, admitted.stderr
    # The dry run went through the mutating webhook too: the answer carries the defaults.
    assert json.loads(admitted.stdout)["spec"]["ingress"] == [
        {"ports": [{"port": 80, "protocol": "TCP"}]}
    ]
    for name in ("bad", "good"):
        missing = kubectl(lab, "get", "multi-policy", name, "-n", "dry")
        assert missing.returncode == 1
        assert missing.stderr.strip() == (
            "Error from server (NotFound): multi-networkpolicies.k8s.cni.cncf.io "
            f'"{name}" not found'
        )
    assert stored_policies(lab, "dry") == []


# --- certificate rotation -----------------------------------------------------------------


class CreateLoop:
    """Creates policies one after another (kubectl, as a user would) until stopped."""

    def __init__(self, lab: KubeLab, namespace: str) -> None:
        self.lab = lab
        self.namespace = namespace
        self.results: list[tuple[str, subprocess.CompletedProcess[str]]] = []
        self.phase = "before"
        self._stop = threading.Event()
        self._progress = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            obj = policy(self.namespace, f"p-{n}", {"podSelector": {}}, "blue")
            phase = self.phase
            result = kubectl(self.lab, "create", "-f", "-", input=json.dumps(obj))
            with self._progress:
                self.results.append((phase, result))
                self._progress.notify_all()
            n += 1

    def start(self) -> CreateLoop:
        self._thread.start()
        return self

    def enter(self, phase: str, creates: int = 2) -> None:
        """Start ``phase`` and return once ``creates`` creates ran wholly inside it."""
        self.phase = phase
        with self._progress:
            ok = self._progress.wait_for(
                lambda: sum(1 for p, _ in self.results if p == phase) >= creates, timeout=120
            )
        assert ok, f"the create loop stalled in phase {phase}: {self.results[-1:]}"

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=120)


def test_rotating_the_certificate_and_ca_keeps_every_create_succeeding(lab: KubeLab) -> None:
    create_namespace(lab, "rotation")
    apply_objects(lab, nad("rotation", "blue"))
    old_bundle = lab.ca_bundle
    loop = CreateLoop(lab, "rotation").start()
    try:
        loop.enter("before")
        lab.rotate_webhook_certificate()  # same CA, new serving certificate
        loop.enter("new certificate")
        lab.rotate_webhook_ca(after_step=loop.enter)  # bundle, serving, new-ca
    finally:
        loop.stop()

    failures = [(phase, r.stderr) for phase, r in loop.results if r.returncode != 0]
    assert failures == []
    assert {p for p, _ in loop.results} == {
        "before",
        "new certificate",
        "bundle",
        "serving",
        "new-ca",
    }
    assert all(r.stdout.endswith(" created\n") for _, r in loop.results)
    assert len(stored_policies(lab, "rotation")) == len(loop.results)
    # Both configurations now carry the new CA alone.
    assert lab.ca_bundle != old_bundle
    for kind in ("validatingwebhookconfiguration", "mutatingwebhookconfiguration"):
        name = "mnp-validating" if kind.startswith("validating") else "mnp-mutating"
        bundles = kubectl(
            lab, "get", kind, name, "-o", "jsonpath={.webhooks[*].clientConfig.caBundle}"
        ).stdout.split()
        assert {base64.b64decode(b) for b in bundles} == {lab.ca_bundle}


# --- failure policy ----------------------------------------------------------------------


def test_with_the_webhook_down_creates_fail_except_in_excluded_namespaces(lab: KubeLab) -> None:
    create_namespace(lab, "outage")
    apply_objects(lab, nad("outage", "blue"))
    in_outage = policy("outage", "during-outage", {"podSelector": {}}, "blue")
    in_kube_system = policy("kube-system", "during-outage", {"podSelector": {}}, "blue")
    port = lab.webhook_port

    lab.stop_webhook()
    try:
        failed = kubectl(lab, "create", "-f", "-", input=json.dumps(in_outage))
        excluded = kubectl(lab, "create", "-f", "-", input=json.dumps(in_kube_system))
    finally:
        lab.start_webhook()

    assert failed.returncode == 1
    # failurePolicy: Fail. The mutating webhook is called first, so it is the one named.
    assert failed.stderr.splitlines() == [
        'Error from server (InternalError): error when creating "STDIN": Internal error '
        'occurred: failed calling webhook "default.multinetworkpolicy.mnp.k8s.cni.cncf.io": '
        f'failed to call webhook: Post "https://127.0.0.1:{port}/mutate?timeout=10s": '
        f"dial tcp 127.0.0.1:{port}: connect: connection refused"
    ]
    assert stored_policies(lab, "outage") == []
    # kube-system is excluded by the namespaceSelector: the API server does not call us.
    assert excluded.returncode == 0, excluded.stderr
    assert excluded.stdout == "multinetworkpolicy.k8s.cni.cncf.io/during-outage created\n"
    # Back up: the same create now goes through (and gets the defaults).
    again = kubectl(lab, "create", "-f", "-", input=json.dumps(in_outage))
    assert again.returncode == 0, again.stderr
    stored = json.loads(
        kubectl(lab, "get", "multi-policy", "during-outage", "-n", "outage", "-o", "json").stdout
    )
    assert stored["spec"]["policyTypes"] == ["Ingress"]


def _until(condition: Any, attempts: int = 300) -> None:
    """Poll ``condition`` (each attempt is a kubectl round trip) until true."""
    for _ in range(attempts):
        if condition():
            return
    raise AssertionError(f"condition never held after {attempts} attempts")
