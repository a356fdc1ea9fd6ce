"""The enforcer against real NB ovsdb-servers on every kind of remote: ``ssl:`` (with client
certificates minted here), ``tcp:``, a 3-member RAFT cluster (leader preference, failover,
a dead first remote, nobody answering), and a write raced by another writer."""

from __future__ import annotations

import copy
import logging
import re
import subprocess
from pathlib import Path

import pytest

from enforcer.compile import compile
from enforcer.diff import plan, read_state
from enforcer.ovsdb import (
    NB_DB,
    OvsdbConflictError,
    OvsdbError,
    Remote,
    SslFiles,
    connect,
    parse_remote,
    split_remotes,
)
from enforcer.reconcile import ATTEMPTS, NbTarget, reconcile
from mnp_lab.ovn import OvnSandbox
from mnp_lab.ovsdb_cluster import NbCluster, StandaloneNb
from mnp_lab.processes import free_port
from tests.support.certs import CertificateAuthority
from tests.support.ovn_enforcement import (
    enforce_once,
    expected_keys,
    find,
    lab,
    layer2_objects,
    nb_owned_keys,
    owned_keys,
    snapshot_of,
    without_policy,
    write_manifests,
)

# -- ssl: ---------------------------------------------------------------------------------


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    """A CA with a server and a client certificate, and a foreign CA with its own client."""
    d = tmp_path / "pki"
    d.mkdir()
    ca, foreign = CertificateAuthority("nb CA"), CertificateAuthority("foreign CA")
    ca.write(d / "ca.crt")
    foreign.write(d / "foreign-ca.crt")
    ca.issue_server(["127.0.0.1"]).write(d, "server.crt", "server.key")
    ca.issue_client("mnp-enforcer").write(d, "client.crt", "client.key")
    foreign.issue_client("intruder").write(d, "intruder.crt", "intruder.key")
    return {p.name: p for p in d.iterdir()}


def test_ssl_remote_with_client_certificate(tmp_path: Path, pki: dict[str, Path]) -> None:
    server_tls = SslFiles(str(pki["server.key"]), str(pki["server.crt"]), str(pki["ca.crt"]))
    objects = layer2_objects()
    manifests = write_manifests(tmp_path / "objects.json", objects)
    good = ["--ovn-nb-key", str(pki["client.key"]), "--ovn-nb-cert", str(pki["client.crt"])]
    good += ["--ovn-nb-ca", str(pki["ca.crt"])]
    nbctl_tls = ["-p", str(pki["client.key"]), "-c", str(pki["client.crt"])]
    nbctl_tls += ["-C", str(pki["ca.crt"])]
    with StandaloneNb(tmp_path / "nb", "ssl", server_tls) as nb:
        assert nb.remote.startswith("ssl:127.0.0.1:")

        done = enforce_once(nb.remote, manifests, *good)
        assert done.returncode == 0, done.stderr
        assert "insert" in done.stdout
        assert nb_owned_keys(nb.remote, *nbctl_tls) == expected_keys(snapshot_of(objects))
        again = enforce_once(nb.remote, manifests, *good)
        assert again.returncode == 0 and "no changes" in again.stdout, again.stderr

        # A client certificate from another CA: the server refuses it, nothing is written.
        fewer_objects = without_policy(objects, "vmb-ingress-from-vma")
        fewer = write_manifests(tmp_path / "fewer.json", fewer_objects)
        intruder = ["--ovn-nb-key", str(pki["intruder.key"])]
        intruder += ["--ovn-nb-cert", str(pki["intruder.crt"]), "--ovn-nb-ca", str(pki["ca.crt"])]
        refused = enforce_once(nb.remote, fewer, *intruder)
        assert refused.returncode == 1
        assert nb.remote in refused.stderr
        assert "rejected the client certificate" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr
        assert nb_owned_keys(nb.remote, *nbctl_tls) == expected_keys(snapshot_of(objects))

        # A CA that did not sign the server's certificate: the client refuses the server.
        wrong_ca = [*good[:4], "--ovn-nb-ca", str(pki["foreign-ca.crt"])]
        untrusted = enforce_once(nb.remote, fewer, *wrong_ca)
        assert untrusted.returncode == 1
        assert f"TLS handshake with {nb.remote} failed" in untrusted.stderr, untrusted.stderr
        assert "--ovn-nb-ca" in untrusted.stderr

        # Missing or mismatched client files are usage errors naming the flag or file.
        missing = enforce_once(nb.remote, fewer, *good[:5], str(tmp_path / "no.crt"))
        assert missing.returncode == 2
        assert f"--ovn-nb-ca {tmp_path / 'no.crt'} does not exist" in missing.stderr
        mismatched = ["--ovn-nb-key", str(pki["intruder.key"]), *good[2:]]
        wrong_key = enforce_once(nb.remote, fewer, *mismatched)
        assert wrong_key.returncode == 2
        assert "cannot load the client certificate" in wrong_key.stderr, wrong_key.stderr

        # ssl: without the client files is a usage error naming the flags.
        bare = enforce_once(nb.remote, fewer)
        assert bare.returncode == 2
        assert "--ovn-nb-cert" in bare.stderr

        changed = enforce_once(nb.remote, fewer, *good)
        assert changed.returncode == 0, changed.stderr
        assert nb_owned_keys(nb.remote, *nbctl_tls) == expected_keys(snapshot_of(fewer_objects))


# -- remote syntax -------------------------------------------------------------------------


def test_remote_syntax() -> None:
    assert parse_remote("unix:/run/ovn/ovnnb_db.sock") == Remote("unix", "/run/ovn/ovnnb_db.sock")
    assert parse_remote("tcp:10.0.0.1:6641") == Remote("tcp", "10.0.0.1", 6641)
    assert parse_remote("ssl:[fd00::1]:6641") == Remote("ssl", "fd00::1", 6641)
    assert str(parse_remote("ssl:[fd00::1]:6641")) == "ssl:[fd00::1]:6641"
    assert split_remotes(" tcp:a:1 , tcp:b:2,") == ["tcp:a:1", "tcp:b:2"]
    for bad in ("tcp:10.0.0.1", "http:x:1", "tcp:fd00::1:6641", "ssl:[nope]:1", "unix:"):
        with pytest.raises(OvsdbError, match="is not an OVSDB remote"):
            parse_remote(bad)
    with pytest.raises(OvsdbError, match=r"port must be a number in 1\.\.65535"):
        parse_remote("tcp:10.0.0.1:0")


# -- tcp: ---------------------------------------------------------------------------------


def test_tcp_remote_and_a_dead_one(tmp_path: Path) -> None:
    objects = layer2_objects()
    manifests = write_manifests(tmp_path / "objects.json", objects)
    with StandaloneNb(tmp_path / "nb", "tcp") as nb:
        assert nb.remote.startswith("tcp:127.0.0.1:")
        done = enforce_once(nb.remote, manifests)
        assert done.returncode == 0, done.stderr
        assert nb_owned_keys(nb.remote) == expected_keys(snapshot_of(objects))
        again = enforce_once(nb.remote, manifests)
        assert again.returncode == 0 and "no changes" in again.stdout, again.stderr

    dead = f"tcp:127.0.0.1:{free_port()}"
    refused = enforce_once(dead, manifests)
    assert refused.returncode == 1
    assert f"cannot connect to {dead}: Connection refused" in refused.stderr, refused.stderr

    typo = enforce_once("tcp:127.0.0.1", manifests)
    assert typo.returncode == 2
    assert "'tcp:127.0.0.1' is not an OVSDB remote" in typo.stderr, typo.stderr


# -- RAFT cluster ---------------------------------------------------------------------------

_USING = re.compile(r"mnp\.enforcer(?:\.ovsdb)?: reconciled against (\S+)")


def used_remote(proc: subprocess.CompletedProcess[str]) -> str:
    """The member the enforcer wrote through (its -v log says)."""
    found = _USING.findall(proc.stderr)
    assert len(found) == 1, proc.stderr
    return str(found[0])


def test_raft_cluster_leader_failover_and_no_quorum(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    objects = layer2_objects()
    manifests = write_manifests(tmp_path / "objects.json", objects)
    with NbCluster(tmp_path / "cluster", size=3) as cluster:
        leader = cluster.wait_healthy()
        followers = [i for i in range(3) if i != leader]
        # Followers listed first: the enforcer still writes through the leader.
        listed = ",".join(cluster.remote_of(i) for i in [*followers, leader])
        done = enforce_once(listed, manifests, "-v")
        assert done.returncode == 0, done.stderr
        assert used_remote(done) == cluster.remote_of(leader)
        assert cluster.status(leader).role == "leader"
        assert nb_owned_keys(listed) == expected_keys(snapshot_of(objects))

        # Given only a follower, writes are forwarded to the leader and succeed.
        only_follower = enforce_once(
            cluster.remote_of(followers[0]),
            write_manifests(tmp_path / "f.json", without_policy(objects, "vmc-egress-to-vma")),
            "-v",
        )
        assert only_follower.returncode == 0, only_follower.stderr
        assert used_remote(only_follower) == cluster.remote_of(followers[0])
        assert cluster.status(followers[0]).role == "follower"
        assert nb_owned_keys(listed) == expected_keys(
            snapshot_of(without_policy(objects, "vmc-egress-to-vma"))
        )

        # The leader dies in the middle of a reconcile (after the read, before the write):
        # the reconcile reconnects to the survivors, which elect a new leader, and converges.
        target = NbTarget(listed)
        killed: list[int] = []

        def kill_leader() -> None:
            if not killed:
                current = cluster.leader()
                assert current is not None
                cluster.members[current].kill()
                killed.append(current)

        with caplog.at_level(logging.WARNING, logger="mnp.enforcer"):
            result = reconcile(target, snapshot_of(objects), before_write=kill_leader)
        assert f"lost the NB connection mid-reconcile ({cluster.remote_of(leader)}" in caplog.text
        assert killed == [leader]
        assert result.transacted
        new_leader = cluster.wait_healthy()
        assert new_leader != leader
        survivors = ",".join(cluster.remote_of(i) for i in range(3) if i != leader)
        assert nb_owned_keys(survivors) == expected_keys(snapshot_of(objects))

        # The dead member listed first, from the start: the others take the write.
        dead_first = ",".join(
            [cluster.remote_of(leader), *(cluster.remote_of(i) for i in followers)]
        )
        fewer = without_policy(objects, "vma-ingress-from-vmc")
        rerun = enforce_once(dead_first, write_manifests(tmp_path / "g.json", fewer), "-v")
        assert rerun.returncode == 0, rerun.stderr
        assert used_remote(rerun) == cluster.remote_of(new_leader)
        assert nb_owned_keys(survivors) == expected_keys(snapshot_of(fewer))

        # Nobody answers: the error lists every remote tried and why.
        cluster.stop()
        nobody = enforce_once(dead_first, manifests)
        assert nobody.returncode == 1
        assert "no OVN_Northbound server of 3 can take writes" in nobody.stderr, nobody.stderr
        for i in range(3):
            assert f"cannot connect to {cluster.remote_of(i)}: Connection refused" in nobody.stderr


# -- a write raced by another writer ------------------------------------------------------


def owned_port_group_uuid(ovn: OvnSandbox) -> str:
    uuids = ovn.nbctl(
        "--bare",
        "--columns=_uuid",
        "find",
        "Port_Group",
        'external_ids:"mnp.k8s.cni.cncf.io/owner"=mnp',
    ).split()
    assert uuids, "the first reconcile should have written port groups"
    return uuids[0]


def test_a_change_between_read_and_write_aborts_and_rereads(ovn: OvnSandbox) -> None:
    objects = layer2_objects()
    lab(ovn, snapshot_of(objects))
    target = NbTarget(ovn.nb_remote)
    assert reconcile(target, snapshot_of(objects)).transacted
    relabeled = copy.deepcopy(objects)
    find(relabeled, "Pod", "virt-launcher-vmc")["metadata"]["labels"]["app"] = "other"
    want = expected_keys(snapshot_of(relabeled))

    # Without the guard, the race loses: a plan made before another writer deleted an owned
    # port group writes its own changes and leaves the deletion in place.
    with connect(ovn.nb_remote) as conn:
        p = plan(compile(snapshot_of(relabeled)), read_state(conn))
        assert p.ops
        ovn.nbctl("destroy", "Port_Group", owned_port_group_uuid(ovn))
        conn.transact(NB_DB, p.ops)
    assert owned_keys(ovn) != want

    # With it: the same race aborts the first transaction; the retry reads again and repairs.
    assert reconcile(target, snapshot_of(objects)).transacted
    calls: list[str] = []

    def race() -> None:
        if not calls:
            uuid = owned_port_group_uuid(ovn)
            ovn.nbctl("destroy", "Port_Group", uuid)
            calls.append(uuid)
        else:
            calls.append("retry")

    result = reconcile(target, snapshot_of(relabeled), before_write=race)
    assert len(calls) == 2 and calls[1] == "retry"
    assert result.transacted
    assert owned_keys(ovn) == want
    assert reconcile(target, snapshot_of(relabeled)).rows_written == 0

    # A writer that never stops racing: the reconcile gives up with a clear error.
    touches: list[int] = []

    def always() -> None:
        touches.append(len(touches))
        uuid = owned_port_group_uuid(ovn)
        ovn.nbctl("set", "Port_Group", uuid, f'external_ids:touched="{len(touches)}"')

    with pytest.raises(OvsdbConflictError, match="changed between read and write"):
        reconcile(target, snapshot_of(objects), before_write=always)
    assert len(touches) == ATTEMPTS
