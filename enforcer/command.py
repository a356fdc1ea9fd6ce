"""``mnp enforcer``: keep OVN Northbound ACLs in line with the cluster's MultiNetworkPolicies."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

from enforcer.events import BackgroundSink, PolicyEvents, kube_event_sink, log_sink
from enforcer.leader import (
    ElectionSettings,
    LeaseElector,
    candidate_identity,
)
from enforcer.metrics import EnforcerMetrics
from enforcer.nb_replica import NbReplica
from enforcer.ovsdb import (
    IO_TIMEOUT_S,
    OvsdbError,
    SslFiles,
    parse_remote,
    split_remotes,
    tls_context,
)
from enforcer.reconcile import (
    LoopSettings,
    NbTarget,
    Observer,
    Reconciler,
    ReconcileResult,
    run_loop,
)
from enforcer.sources import Source
from mnp.validation import ValidationRules, rules_for_version

log = logging.getLogger("mnp.enforcer")

_EVENTS_FLUSH_S = 30.0  # --once: how long to wait for its policy Events to be posted


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mnp enforcer",
        description="Reconcile MultiNetworkPolicies into OVN Northbound ACLs, port groups "
        "and address sets (rows marked mnp.k8s.cni.cncf.io/owner=mnp; nothing else is touched).",
    )
    p.add_argument(
        "--ovn-nb",
        required=True,
        metavar="REMOTE",
        help="NB database: unix:PATH, tcp:IP:PORT, ssl:IP:PORT, or a comma-separated cluster",
    )
    p.add_argument("--ovn-nb-cert", metavar="FILE", help="client certificate for ssl:")
    p.add_argument("--ovn-nb-key", metavar="FILE", help="client private key for ssl:")
    p.add_argument("--ovn-nb-ca", metavar="FILE", help="CA certificate for ssl:")
    p.add_argument("--source", choices=("files", "kube"), default="kube")
    p.add_argument(
        "-f",
        "--file",
        dest="files",
        action="append",
        default=[],
        metavar="FILE_OR_DIR",
        help="manifests (with --source files); repeatable",
    )
    p.add_argument(
        "--kubeconfig",
        metavar="FILE",
        help="default: in-cluster, then $KUBECONFIG or ~/.kube/config",
    )
    p.add_argument(
        "--kube-sync-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="give up if the first lists (policies, NADs, pods, namespaces) take longer",
    )
    p.add_argument("--once", action="store_true", help="reconcile once and exit")
    p.add_argument("--metrics-port", type=int, metavar="N", help="serve Prometheus metrics")
    p.add_argument(
        "--debounce",
        type=float,
        default=LoopSettings.debounce,
        metavar="SECONDS",
        help="after a quiet spell, wait this long for the rest of a burst of events",
    )
    p.add_argument(
        "--resync",
        type=float,
        default=LoopSettings.resync,
        metavar="SECONDS",
        help="a full reconcile of the whole cluster this often (the repair path)",
    )
    p.add_argument(
        "--retry",
        type=float,
        default=LoopSettings.retry,
        metavar="SECONDS",
        help="first wait after a failed reconcile (doubles while failing, up to 30s)",
    )
    p.add_argument(
        "--ovn-nb-timeout",
        type=float,
        default=IO_TIMEOUT_S,
        metavar="SECONDS",
        help="give up on a NB server that does not answer for this long",
    )
    p.add_argument(
        "--kube-version",
        metavar="VERSION",
        help="admit policies as kube-apiserver VERSION (e.g. v1.35.4) and its mnp webhook do "
        "(default: the API server's version with --source kube, else the newest supported)",
    )
    p.add_argument("-v", "--verbose", action="store_true")
    _add_leader_election_flags(p)
    return p


def _add_leader_election_flags(p: argparse.ArgumentParser) -> None:
    defaults = ElectionSettings()
    g = p.add_argument_group("leader election (a coordination.k8s.io/v1 Lease)")
    g.add_argument(
        "--leader-elect",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="only the Lease holder writes the NB (default: on with --source kube, except "
        "with --once; off with --source files)",
    )
    g.add_argument("--leader-elect-namespace", default=defaults.namespace, metavar="NAMESPACE")
    g.add_argument("--leader-elect-name", default=defaults.name, metavar="NAME")
    for flag, default in (
        ("--leader-elect-lease-duration", defaults.lease_duration),
        ("--leader-elect-renew-deadline", defaults.renew_deadline),
        ("--leader-elect-retry-period", defaults.retry_period),
    ):
        g.add_argument(flag, type=float, default=default, metavar="SECONDS")


class RulesError(ValueError):
    """--kube-version names no release."""


def _validation_rules(kube_version: str | None, api: Any) -> ValidationRules:
    """The webhook's rules for the same cluster: the flag, else the API server's /version."""
    if kube_version is not None:
        try:
            return rules_for_version(kube_version)
        except ValueError as e:
            raise RulesError(str(e)) from None
    if api is None:
        return ValidationRules()
    from kubernetes import client

    try:
        return rules_for_version(str(client.VersionApi(api).get_code().git_version))
    except Exception as e:
        log.warning("cannot read the API server's version (%s); using the newest rules", e)
        return ValidationRules()


def _ssl(args: argparse.Namespace) -> SslFiles | None:
    given = [args.ovn_nb_key, args.ovn_nb_cert, args.ovn_nb_ca]
    if not any(given):
        return None
    if not all(given):
        raise SystemExit(
            "mnp enforcer: --ovn-nb-key, --ovn-nb-cert and --ovn-nb-ca must be given together"
        )
    files = SslFiles(args.ovn_nb_key, args.ovn_nb_cert, args.ovn_nb_ca)
    try:
        tls_context(files, "--ovn-nb")  # unreadable or mismatched files fail now, not later
    except OvsdbError as e:
        raise SystemExit(f"mnp enforcer: {e}") from None
    return files


def _target(args: argparse.Namespace) -> NbTarget:
    remotes = split_remotes(args.ovn_nb)
    if not remotes:
        raise SystemExit("mnp enforcer: --ovn-nb is empty")
    try:
        methods = {parse_remote(r).method for r in remotes}
    except OvsdbError as e:
        raise SystemExit(f"mnp enforcer: --ovn-nb: {e}") from None
    files = _ssl(args)
    if "ssl" in methods and files is None:
        raise SystemExit(
            "mnp enforcer: an ssl: remote in --ovn-nb needs --ovn-nb-key, --ovn-nb-cert "
            "and --ovn-nb-ca"
        )
    if args.ovn_nb_timeout <= 0 or args.retry <= 0:
        raise SystemExit("mnp enforcer: --ovn-nb-timeout and --retry must be positive")
    return NbTarget(args.ovn_nb, files, args.ovn_nb_timeout)


def _source(args: argparse.Namespace, metrics: EnforcerMetrics) -> tuple[Source, object | None]:
    """The source, admitting policies by the rules of the cluster's release (ValueError:
    a bad --kube-version)."""
    if args.source == "files":
        from enforcer.sources.files import FilesSource

        if not args.files:
            raise SystemExit("mnp enforcer: --source files needs -f FILE_OR_DIR")
        return FilesSource(args.files, rules=_validation_rules(args.kube_version, None)), None
    from enforcer.sources.kube import KubeSource
    from kubewatch import WatchSettings, api_client

    api = api_client(args.kubeconfig)
    rules = _validation_rules(args.kube_version, api)
    settings = WatchSettings(first_sync_timeout_s=args.kube_sync_timeout)
    source = KubeSource(api, hooks=metrics.kube_watch, settings=settings, lean=True, rules=rules)
    return source, api


def _leader_elect(args: argparse.Namespace) -> bool:
    if args.leader_elect is None:
        return args.source == "kube" and not args.once
    if args.leader_elect and args.once:
        raise SystemExit("mnp enforcer: --once does not take part in leader election")
    return bool(args.leader_elect)


def _elector(
    args: argparse.Namespace, api: object | None, metrics: EnforcerMetrics, changed: threading.Event
) -> LeaseElector | None:
    """The Lease elector, or None without leader election (then this process always writes).
    On taking over it sets ``changed``: the new leader reconciles at once."""
    if not _leader_elect(args):
        metrics.leader.set(1)
        return None
    try:
        settings = ElectionSettings(
            args.leader_elect_namespace,
            args.leader_elect_name,
            args.leader_elect_lease_duration,
            args.leader_elect_renew_deadline,
            args.leader_elect_retry_period,
        )
    except ValueError as e:
        raise SystemExit(f"mnp enforcer: {e}") from None
    if api is None:
        from kubewatch import api_client

        api = api_client(args.kubeconfig)

    def on_change(leading: bool) -> None:
        metrics.leader.set(1 if leading else 0)
        if leading:
            changed.set()

    return LeaseElector(api, candidate_identity(), settings, on_change)


@dataclass
class _Enforcer:
    """The parts of one running enforcer, built by ``main`` and stopped in reverse."""

    args: argparse.Namespace
    metrics: EnforcerMetrics
    source: Source
    reconciler: Reconciler
    replica: NbReplica | None
    elector: LeaseElector | None
    posting: BackgroundSink | None


def _policy_events(
    api: object | None, source: Source
) -> tuple[PolicyEvents, BackgroundSink | None]:
    """Events on the policies (posted off the loop), or log lines without an API server."""
    if api is None:
        return PolicyEvents(log_sink), None
    from kubernetes import client

    core = client.CoreV1Api(api)
    posting = BackgroundSink(kube_event_sink(core, source.policy_uid)).start()
    return PolicyEvents(posting), posting


def _assemble(args: argparse.Namespace, metrics: EnforcerMetrics) -> _Enforcer:
    """Source, elector, NB replica and reconciler (SystemExit / RulesError: bad flags)."""
    target = _target(args)
    source, api = _source(args, metrics)
    elector = _elector(args, api, metrics, source.changed)
    events, posting = _policy_events(api, source)
    replica = None
    if not args.once:
        # A monitor-fed copy of the NB: reconciles read nothing from the server, and a
        # change to an owned row (drift) triggers one.
        replica = NbReplica(target.remote, target.ssl, target.timeout, source.changed.set)
    if elector is not None:
        observers = [metrics.observe, _when_leading(elector, events.observe)]
        reconciler = Reconciler(
            target,
            observers,
            replica,
            before_write=elector.check_write,
            may_write=elector.is_leader,
            on_withheld=metrics.writes_withheld.inc,
        )
    else:
        reconciler = Reconciler(target, [metrics.observe, events.observe], replica)
    return _Enforcer(args, metrics, source, reconciler, replica, elector, posting)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    metrics = EnforcerMetrics()
    try:
        enforcer = _assemble(args, metrics)
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    except RulesError as e:
        print(f"mnp enforcer: --kube-version: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        print(f"mnp enforcer: cannot set up the source: {e}", file=sys.stderr)
        return 2
    if args.metrics_port is not None:
        metrics.serve(args.metrics_port)
    try:
        enforcer.source.start()
    except Exception as e:
        print(f"mnp enforcer: {e}", file=sys.stderr)
        return 1
    return _run_once(enforcer) if args.once else _run(enforcer)


def _run_once(enforcer: _Enforcer) -> int:
    try:
        result = enforcer.reconciler(enforcer.source.snapshot())
    except Exception as e:
        enforcer.metrics.failures.inc()
        print(f"mnp enforcer: reconcile failed: {e}", file=sys.stderr)
        return 1
    finally:
        enforcer.source.stop()
        posting = enforcer.posting
        if posting is not None and not posting.flush(_EVENTS_FLUSH_S):
            print("mnp enforcer: some policy Events were not posted in time", file=sys.stderr)
    print(f"mnp enforcer: {result.summary()}")
    return 0


def _run(enforcer: _Enforcer) -> int:
    """The loop until SIGTERM or SIGINT; then everything stops, in reverse, exit 0."""
    args, source = enforcer.args, enforcer.source
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        source.changed.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if enforcer.replica is not None:
        enforcer.replica.start()
    if enforcer.elector is not None:
        enforcer.elector.start()  # after the source's first sync: it campaigns once warm
    try:
        settings = LoopSettings(args.debounce, args.resync, args.retry)
        run_loop(source, enforcer.reconciler, stop, settings)
    finally:
        if enforcer.elector is not None:
            enforcer.elector.stop(release=True)  # the loop is done: no write is in flight
        if enforcer.replica is not None:
            enforcer.replica.stop()
        if enforcer.posting is not None:
            enforcer.posting.stop()
        source.stop()
    return 0


def _when_leading(elector: LeaseElector, observe: Observer) -> Observer:
    """Only the leader reports policy Events, so two replicas never tell the story twice."""

    def observe_when_leading(result: ReconcileResult, elapsed: float) -> None:
        if elector.is_leader():
            observe(result, elapsed)

    return observe_when_leading


if __name__ == "__main__":
    sys.exit(main())
