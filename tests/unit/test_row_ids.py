"""Typed row ids: every id parses back from the external_ids it builds; nothing else does."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enforcer.row_ids import (
    DIRECTION,
    KEY,
    NAD,
    NETWORK,
    OWNER,
    POLICY,
    DenyAclId,
    DenyPortGroupId,
    NamedPortAddressSetId,
    NamedPortGroupId,
    PeerAddressSetId,
    PolicyPortGroupId,
    PolicyScope,
    RowId,
    RuleAclId,
    object_name,
    parse_row_id,
)

# Kubernetes names (DNS labels / subdomains) never hold "|" or "/"; a network name may
# hold anything, separators included.
label = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?", fullmatch=True)
subdomain = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,20}[a-z0-9])?", fullmatch=True)
network = st.text(min_size=1, max_size=20)
nads = st.lists(st.builds("{}/{}".format, label, subdomain), max_size=3).map(",".join)
scopes = st.builds(PolicyScope, network, st.builds("{}/{}".format, label, subdomain), nads)
ways = st.sampled_from(["ingress", "egress"])
index = st.integers(min_value=0, max_value=10_000)
protocol = st.sampled_from(["tcp", "udp", "sctp"])
port = st.integers(min_value=1, max_value=65535)
family = st.sampled_from([4, 6])

ids: st.SearchStrategy[RowId] = st.one_of(
    st.builds(PolicyPortGroupId, scopes),
    st.builds(NamedPortGroupId, scopes, index, protocol, port),
    st.builds(DenyPortGroupId, network, label, ways),
    st.builds(PeerAddressSetId, scopes, ways, index, index, family),
    st.builds(NamedPortAddressSetId, scopes, index, protocol, port, family),
    st.builds(RuleAclId, scopes, ways, index),
    st.builds(RuleAclId, scopes, ways, index, protocol),
    st.builds(RuleAclId, scopes, ways, index, protocol, port),
    st.builds(DenyAclId, network, label, ways, st.sampled_from(["drop", "arp"])),
)
TABLES = ("Port_Group", "Address_Set", "ACL")


@given(ids)
def test_every_id_parses_back_from_its_external_ids_in_its_table_only(row_id: RowId) -> None:
    external_ids = dict(row_id.external_ids())
    assert external_ids[OWNER] == "mnp" and external_ids[KEY] == row_id.key
    assert parse_row_id(row_id.table, external_ids) == row_id
    for other in TABLES:
        if other != row_id.table:
            assert parse_row_id(other, external_ids) is None


@given(ids)
def test_a_row_without_the_owner_marker_is_not_ours(row_id: RowId) -> None:
    external_ids = dict(row_id.external_ids())
    del external_ids[OWNER]
    assert parse_row_id(row_id.table, external_ids) is None
    assert parse_row_id(row_id.table, {**external_ids, OWNER: "ovn-k"}) is None


@given(st.sampled_from(TABLES), st.text(max_size=60))
def test_any_key_parses_to_an_id_that_rebuilds_it_or_to_none(table: str, key: str) -> None:
    row_id = parse_row_id(table, {OWNER: "mnp", KEY: key})
    assert row_id is None or row_id.key == key


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ("Port_Group", ""),
        ("Port_Group", "pg|policy|net"),  # no policy
        ("Port_Group", "pg|policy|net|nopolicy"),  # a policy is namespace/name
        ("Port_Group", "pg|policy|net|a/b/c"),
        ("Port_Group", "pg|deny|net|ns|sideways"),
        ("Port_Group", "pg|deny|net|ns/p|ingress"),  # a namespace has no "/"
        ("Port_Group", "pg|named|net|ns/p|egress|0|tcp-80"),  # named-port groups: ingress
        ("Port_Group", "pg|named|net|ns/p|ingress|0|tcp-x"),
        ("Port_Group", "pg|other|net|ns/p"),
        ("Address_Set", "as|net|ns/p|ingress|0|peer0|v5"),
        ("Address_Set", "as|net|ns/p|ingress|0|peer0"),  # no family
        ("Address_Set", "as|net|ns/p|ingress|0|peerx|v4"),
        ("Address_Set", "as|net|ns/p|ingress|0|named-tcp-80|v4"),  # named-port sets: egress
        ("ACL", "acl|net|ns/p|ingress|01|tcp"),  # "01" is not the rule "1"
        ("ACL", "acl|net|ns/p|ingress|-1|tcp"),
        ("ACL", "acl|net|ns/p|ingress|0|TCP"),
        ("ACL", "acl|net|ns/p|ingress|0|named-tcp"),
        ("ACL", "acl|net|ns/p|ingress|0|"),
        ("ACL", "acl|deny|net|ns|ingress|maybe"),
        ("ACL", "pg|policy|net|ns/p"),  # a port group's key on an ACL
    ],
)
def test_malformed_or_misplaced_keys_are_of_no_known_kind(table: str, key: str) -> None:
    assert parse_row_id(table, {OWNER: "mnp", KEY: key}) is None


def test_external_ids_and_names_are_those_earlier_versions_wrote() -> None:
    scope = PolicyScope("l2net", "ns1/p", "ns1/l2,ns1/l2b")
    acl = RuleAclId(scope, "egress", 2, "tcp", 5432)
    assert dict(acl.external_ids()) == {
        OWNER: "mnp",
        KEY: "acl|l2net|ns1/p|egress|2|named-tcp-5432",
        POLICY: "ns1/p",
        NETWORK: "l2net",
        NAD: "ns1/l2,ns1/l2b",
        DIRECTION: "egress",
    }
    assert acl.name == "ns1/p:egress2:tcp-5432"
    assert acl.port_group == PolicyPortGroupId(scope)
    assert PolicyPortGroupId(scope).name == "mnp_89879cddde38189c"
    peers = PeerAddressSetId(scope, "ingress", 0, 1, 6)
    assert peers.key == "as|l2net|ns1/p|ingress|0|peer1|v6"
    assert peers.name == object_name("as|l2net|ns1/p|ingress|0|peer1") + "_v6"
    drop = DenyAclId("l2net", "ns1", "ingress", "drop")
    assert dict(drop.external_ids()) == {
        OWNER: "mnp",
        KEY: "acl|deny|l2net|ns1|ingress|drop",
        NETWORK: "l2net",
        DIRECTION: "ingress",
    }
    assert drop.name == "ns1:l2net:ingress-default-drop"
    assert drop.port_group.key == "pg|deny|l2net|ns1|ingress"


def test_a_network_named_like_a_keyword_still_parses_to_its_own_kind() -> None:
    scope = PolicyScope("deny", "ns1/p")
    rule = RuleAclId(scope, "ingress", 0, "tcp")
    deny = DenyAclId("deny|x", "ns1", "ingress", "arp")
    for row_id in (rule, deny, PolicyPortGroupId(PolicyScope("deny|ns1|ingress", "ns1/p"))):
        assert parse_row_id(row_id.table, dict(row_id.external_ids())) == row_id


def test_long_acl_names_are_cut_to_63_characters() -> None:
    scope = PolicyScope("net", "ns1/" + "p" * 80)
    assert len(RuleAclId(scope, "ingress", 0).name) == 63
    assert RuleAclId(scope, "ingress", 0).name.endswith("~")
