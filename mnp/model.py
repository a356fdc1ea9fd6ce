"""The policy model shared by validation, the webhook, ``mnp check`` and the enforcer.

Everything here is frozen and hashable, so the enforcer's pure compile can cache on it. The
classes held once per pod (``Pod``, ``Attachment``, ``ContainerPort``, ``NadKey``) are
slotted: at 50,000 pods, an instance ``__dict__`` each is tens of megabytes.
A ``Policy`` is built (``mnp.policy.policy_model``) from the decoded, defaulted tree of a
policy that passed validation (``mnp.admission.admit_policy``), never from raw JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Topology = Literal["layer2", "layer3", "localnet"]
Protocol = Literal["TCP", "UDP", "SCTP"]
Direction = Literal["Ingress", "Egress"]

POLICY_FOR_ANNOTATION = "k8s.v1.cni.cncf.io/policy-for"
POD_NETWORKS_ANNOTATION = "k8s.ovn.org/pod-networks"
NETWORKS_ANNOTATION = "k8s.v1.cni.cncf.io/networks"
OVN_CNI_TYPE = "ovn-k8s-cni-overlay"

MNP_GROUP = "k8s.cni.cncf.io"
MNP_KIND = "MultiNetworkPolicy"
NAD_KIND = "NetworkAttachmentDefinition"


@dataclass(frozen=True, slots=True, order=True)
class NadKey:
    """``namespace/name`` of a NetworkAttachmentDefinition."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelSelector:
    """metav1.LabelSelector. The empty selector matches everything."""

    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[Requirement, ...] = ()


@dataclass(frozen=True)
class IPBlock:
    cidr: str
    except_: tuple[str, ...] = ()


@dataclass(frozen=True)
class Peer:
    """Exactly one of: ip_block; or pod_selector and/or namespace_selector."""

    pod_selector: LabelSelector | None = None
    namespace_selector: LabelSelector | None = None
    ip_block: IPBlock | None = None


@dataclass(frozen=True)
class Port:
    protocol: Protocol = "TCP"
    port: int | str | None = None  # None: all ports of the protocol; str: a named port
    end_port: int | None = None


@dataclass(frozen=True)
class Rule:
    """One ingress or egress rule. Empty ``ports``/``peers`` mean "all"."""

    ports: tuple[Port, ...] = ()
    peers: tuple[Peer, ...] = ()


@dataclass(frozen=True)
class Policy:
    namespace: str
    name: str
    policy_for: tuple[NadKey, ...]
    pod_selector: LabelSelector
    ingress: tuple[Rule, ...]
    egress: tuple[Rule, ...]
    policy_types: frozenset[Direction]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Network:
    """The parts of a NAD's ``spec.config`` that matter for policy."""

    nad: NadKey
    name: str  # the network name; several NADs may share one
    topology: Topology
    cni_type: str
    subnets: tuple[str, ...] = ()  # CIDRs, per-node host-subnet length stripped
    exclude_subnets: tuple[str, ...] = ()
    vlan_id: int | None = None
    mtu: int | None = None

    @property
    def ipam_less(self) -> bool:
        return not self.subnets and self.topology in ("layer2", "localnet")


@dataclass(frozen=True, slots=True)
class ContainerPort:
    name: str
    port: int
    protocol: Protocol = "TCP"


@dataclass(frozen=True, slots=True)
class Attachment:
    """One entry of a pod's ``k8s.ovn.org/pod-networks``."""

    ips: tuple[str, ...]  # interface CIDRs, e.g. "192.168.100.10/24"
    mac: str


@dataclass(frozen=True, slots=True)
class Pod:
    namespace: str
    name: str
    labels: tuple[tuple[str, str], ...] = ()
    node: str = ""
    networks: tuple[NadKey, ...] = ()  # from k8s.v1.cni.cncf.io/networks
    attachments: tuple[tuple[NadKey, Attachment], ...] = ()  # from k8s.ovn.org/pod-networks
    ports: tuple[ContainerPort, ...] = ()

    def labels_dict(self) -> dict[str, str]:
        return dict(self.labels)

    def attachment(self, nad: NadKey) -> Attachment | None:
        for k, a in self.attachments:
            if k == nad:
                return a
        return None


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Snapshot:
    """What the enforcer sees of the cluster at one moment."""

    namespaces: tuple[Namespace, ...] = ()
    pods: tuple[Pod, ...] = ()
    networks: tuple[Network, ...] = ()
    policies: tuple[Policy, ...] = ()
    # Policies that failed validation: (namespace/name, error messages).
    rejected: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())
    # For rejected policies whose podSelector is valid: the same pods selected with no
    # allows, on the named NADs that exist (what the enforcer isolates when it never saw
    # the policy valid; see enforcer/fail_safe.py).
    isolation: tuple[Policy, ...] = field(default=())
