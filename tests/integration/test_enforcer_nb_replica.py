"""The monitor-fed NB replica (enforcer/nb_replica.py) against a real ovsdb-server: it agrees
with a fresh read through foreign changes of every kind, a no-op reconcile sends nothing, a
raced write is replanned after the monitor delivers the other writer's change, and a RAFT
leader's death moves it to the new leader, resuming from its last transaction id."""

from __future__ import annotations

import copy
import functools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from enforcer.compile import compile
from enforcer.diff import NbState, read_state
from enforcer.nb_replica import NbReplica, _ColumnKind, apply_row_diff
from enforcer.ovsdb import OvsdbConflictError, SslFiles, connect
from enforcer.reconcile import ATTEMPTS, reconcile_against
from mnp_lab.ovn import OvnSandbox
from mnp_lab.ovsdb_cluster import NbCluster, StandaloneNb
from tests.support.certs import CertificateAuthority
from tests.support.ovn_enforcement import (
    expected_keys,
    find,
    lab,
    layer2_objects,
    nb_owned_keys,
    owned_keys,
    snapshot_of,
    synthetic_objects,
)

_CEILING_S = 30.0  # for polling only
OWNED = 'external_ids:"mnp.k8s.cni.cncf.io/owner"=mnp'


def comparable(state: NbState) -> tuple[Any, ...]:
    return (
        sorted((r.uuid, r.row, r.acls) for r in state.port_groups),
        sorted((r.uuid, r.row) for r in state.address_sets),
        sorted((u, r.row) for u, r in state.acls.items()),
        sorted(state.lsp_uuids.items()),
    )


def eventually(what: str, ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + _CEILING_S
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {_CEILING_S:.0f}s")
        time.sleep(0.05)


def agrees_with_a_fresh_read(replica: NbReplica, remote: str) -> Callable[[], bool]:
    def check() -> bool:
        with connect(remote) as conn:
            fresh = read_state(conn)
        return comparable(replica.view().state) == comparable(fresh)

    return check


def owned_uuids(ovn: OvnSandbox, table: str, *conditions: str) -> list[str]:
    return ovn.nbctl("--bare", "--columns=_uuid", "find", table, OWNED, *conditions).split()


def written_uuids(ops: list[dict[str, Any]], table: str) -> list[str]:
    """The rows of ``table`` a transaction's ops update, mutate or delete (its guard aside)."""
    kinds = ("update", "mutate", "delete")
    found = [op["where"][0][2][1] for op in ops if op["op"] in kinds and op["table"] == table]
    return sorted(set(found))


def racing_writes(
    monkeypatch: pytest.MonkeyPatch,
    replica: NbReplica,
    race: Callable[[list[dict[str, Any]]], None],
) -> list[list[dict[str, Any]]]:
    """Run ``race`` with each transaction's ops right before the replica sends it (another
    writer getting in between plan and write); returns the transactions sent."""
    sent: list[list[dict[str, Any]]] = []
    real = functools.partial(NbReplica.transact, replica)  # not an earlier race's wrapper

    def transact(ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
        race(ops)
        sent.append(ops)
        return real(ops)

    monkeypatch.setattr(replica, "transact", transact)
    return sent


def test_row_diffs_toggle_sets_and_update_maps() -> None:
    kinds = {
        "ports": _ColumnKind(is_set=True, is_map=False),
        "ids": _ColumnKind(is_set=True, is_map=True),
        "name": _ColumnKind(is_set=False, is_map=False),
    }
    row = {
        "ports": ["set", [["uuid", "a"], ["uuid", "b"]]],
        "ids": ["map", [["k", "1"], ["drop", "x"]]],
        "name": "old",
    }
    diff = {
        "ports": ["set", [["uuid", "b"], ["uuid", "c"]]],
        "ids": ["map", [["k", "2"], ["drop", "x"], ["new", "y"]]],
        "name": "new",
    }
    out = apply_row_diff(kinds, row, diff)
    assert sorted(out["ports"][1]) == [["uuid", "a"], ["uuid", "c"]]
    assert dict(out["ids"][1]) == {"k": "2", "new": "y"}
    assert out["name"] == "new"
    # A one-element set diff may come as a bare atom; a column of at most one value is replaced.
    assert apply_row_diff(kinds, out, {"name": ["set", []]})["name"] == ["set", []]
    assert apply_row_diff(kinds, out, {"ports": ["uuid", "a"]})["ports"] == ["set", [["uuid", "c"]]]


def test_replica_agrees_with_a_fresh_read_through_foreign_changes(ovn: OvnSandbox) -> None:
    snap = snapshot_of(layer2_objects())
    lab(ovn, snap)
    with NbReplica(ovn.nb_remote) as replica:
        assert reconcile_against(replica, compile(snap)).transacted
        agrees = agrees_with_a_fresh_read(replica, ovn.nb_remote)
        eventually("agreement after our own write", agrees)
        acl = owned_uuids(ovn, "ACL")[0]
        pg = owned_uuids(ovn, "Port_Group")[0]
        ovn.nbctl("ls-add", "extra", "--", "lsp-add", "extra", "new-port")
        port_uuid = ovn.nbctl("get", "Logical_Switch_Port", "new-port", "_uuid").strip()
        changes: list[tuple[str, ...]] = [
            ("set", "ACL", acl, 'match="1"', "action=allow", "priority=1"),
            ("set", "ACL", acl, "external_ids:extra=yes", "options:apply-after-lb=true"),
            ("remove", "ACL", acl, "external_ids", "extra"),
            ("set", "ACL", acl, "name=renamed", "severity=alert", "log=true"),
            ("set", "ACL", acl, "name=again"),
            ("clear", "ACL", acl, "name"),
            ("add", "Port_Group", pg, "ports", port_uuid),
            ("set", "Logical_Switch_Port", port_uuid, "addresses=dynamic"),  # unmonitored
            ("set", "Logical_Switch_Port", port_uuid, "name=renamed-port"),
            ("lsp-del", "renamed-port"),  # leaves the port group by weak reference
            ("lsp-add", "extra", "another-port"),
            ("create", "Address_Set", "name=junk", f"external_ids:{OWNED.split(':', 1)[1]}"),
            ("add", "Address_Set", "junk", "addresses", "10.0.0.1", "10.0.0.2"),
            ("remove", "Address_Set", "junk", "addresses", "10.0.0.1"),
            ("destroy", "Port_Group", pg),  # and its ACLs with it (they are not root rows)
        ]
        for change in changes:
            generation = replica.generation
            ovn.nbctl(*change)
            if "addresses=dynamic" not in change:
                assert replica.wait_past(generation, _CEILING_S), change
            eventually(f"agreement after {change}", agrees)
        # The replica plans the repair of all that in one transaction, like a fresh read.
        assert reconcile_against(replica, compile(snap)).transacted
        assert owned_keys(ovn) == expected_keys(snap)
        eventually("agreement after the repair", agrees)


def test_a_no_op_reconcile_sends_nothing_and_a_raced_write_is_replanned(
    ovn: OvnSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = layer2_objects()
    snap = snapshot_of(objects)
    lab(ovn, snap)
    with NbReplica(ovn.nb_remote) as replica:
        reconcile_against(replica, compile(snap))
        eventually("our write seen", lambda: reconcile_against(replica, compile(snap)).ops == 0)
        sent = replica.requests_sent
        noop = reconcile_against(replica, compile(snap))
        assert (noop.ops, noop.rows_written, noop.transacted) == (0, 0, False)
        assert replica.requests_sent == sent  # no read, no write: the plan used the replica

        relabeled = copy.deepcopy(objects)
        find(relabeled, "Pod", "virt-launcher-vmc")["metadata"]["labels"]["app"] = "other"
        calls: list[str] = []

        def race(ops: list[dict[str, Any]]) -> None:
            if not calls:  # another writer deletes a port group this plan writes
                uuid = written_uuids(ops, "Port_Group")[0]
                ovn.nbctl("destroy", "Port_Group", uuid)
                calls.append(uuid)
            else:
                calls.append("replanned")

        racing_writes(monkeypatch, replica, race)
        result = reconcile_against(replica, compile(snapshot_of(relabeled)))
        assert calls[1:] == ["replanned"] and result.transacted
        assert owned_keys(ovn) == expected_keys(snapshot_of(relabeled))

        touches: list[int] = []

        def always(ops: list[dict[str, Any]]) -> None:
            touches.append(len(touches))
            uuid = written_uuids(ops, "Port_Group")[0]
            ovn.nbctl("set", "Port_Group", uuid, f'external_ids:touched="{len(touches)}"')

        racing_writes(monkeypatch, replica, always)
        with pytest.raises(OvsdbConflictError, match="changed between read and write"):
            reconcile_against(replica, compile(snap))
        assert len(touches) == ATTEMPTS


def test_replica_follows_the_raft_leader_and_resumes_from_its_last_transaction(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    objects = layer2_objects()
    snap = snapshot_of(objects)
    with NbCluster(tmp_path / "cluster", size=3) as cluster:
        leader = cluster.wait_healthy()
        followers = [i for i in range(3) if i != leader]
        listed = ",".join(cluster.remote_of(i) for i in [*followers, leader])
        with (
            caplog.at_level(logging.INFO, logger="mnp.enforcer"),
            NbReplica(listed, timeout=5.0) as replica,
        ):
            replica.view()
            assert replica.connected_to == cluster.remote_of(leader)
            assert reconcile_against(replica, compile(snap)).transacted
            eventually("our write seen", lambda: reconcile_against(replica, compile(snap)).ops == 0)
            assert caplog.text.count("full load") == 1

            # The member drops its clients: the replica comes back to it, with only the
            # changes it missed; its versions still guard writes there.
            cluster.members[leader].appctl("ovsdb-server/reconnect")
            eventually(
                "a resync from the last transaction",
                lambda: "changes since the last transaction seen" in caplog.text,
            )
            assert replica.connected_to == cluster.remote_of(leader)
            assert reconcile_against(replica, compile(snap)).ops == 0
            fewer = [o for o in objects if o["metadata"]["name"] != "vmc-egress-to-vma"]
            assert reconcile_against(replica, compile(snapshot_of(fewer))).transacted

            # The leader dies: the replica moves to the new leader (a full load there, as
            # row versions are each member's own) and writes through it.
            cluster.members[leader].kill()
            new_leader = cluster.wait_healthy()
            eventually(
                "the replica on the new leader",
                lambda: replica.connected_to == cluster.remote_of(new_leader),
            )
            assert "full load" in caplog.text.split("changes since the last transaction")[-1]
            fewest = [o for o in fewer if o["metadata"]["name"] != "vma-ingress-from-vmc"]
            assert reconcile_against(replica, compile(snapshot_of(fewest))).transacted
            survivors = ",".join(cluster.remote_of(i) for i in range(3) if i != leader)
            assert nb_owned_keys(survivors) == expected_keys(snapshot_of(fewest))


def test_replica_over_tls_carries_a_large_load_and_its_updates(tmp_path: Path) -> None:
    d = tmp_path / "pki"
    d.mkdir()
    ca = CertificateAuthority("nb CA")
    ca.write(d / "ca.crt")
    ca.issue_server(["127.0.0.1"]).write(d, "server.crt", "server.key")
    ca.issue_client("mnp-enforcer").write(d, "client.crt", "client.key")
    server = SslFiles(str(d / "server.key"), str(d / "server.crt"), str(d / "ca.crt"))
    client = SslFiles(str(d / "client.key"), str(d / "client.crt"), str(d / "ca.crt"))
    nbctl_tls = ["-p", client.private_key, "-c", client.certificate, "-C", client.ca_cert]
    snap = snapshot_of(synthetic_objects(150, 600))  # replies of many TLS records
    with (
        StandaloneNb(tmp_path / "nb", "ssl", server) as nb,
        NbReplica(nb.remote, client) as replica,
    ):
        first = reconcile_against(replica, compile(snap))
        assert first.transacted and first.rows_written > 300
        assert nb_owned_keys(nb.remote, *nbctl_tls) == expected_keys(snap)
        eventually("our write seen", lambda: reconcile_against(replica, compile(snap)).ops == 0)

        def agrees() -> bool:
            with connect(nb.remote, client) as conn:
                fresh = read_state(conn)
            return comparable(replica.view().state) == comparable(fresh)

        eventually("agreement over TLS", agrees)
