"""``mnp webhook``: serve the admission webhook over HTTPS."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from kubewatch import api_client
from mnp.validation import ValidationRules
from webhook.app import create_app, create_probe_app
from webhook.kube_version import validation_rules
from webhook.limits import MIB, ServerLimits
from webhook.metrics import WebhookMetrics
from webhook.nad_cache import ClusterSource, ObjectSource, SnapshotSource
from webhook.server import (
    Lifecycle,
    Listen,
    ListeningServer,
    build_probe_server,
    build_server,
    run_servers,
)
from webhook.tls import CertificateError, CertificateFiles, CertificateReloader

log = logging.getLogger("mnp.webhook")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mnp webhook",
        description="Admission webhook for MultiNetworkPolicy: validation, defaulting, NAD guard.",
    )
    certs = p.add_argument_group("TLS")
    certs.add_argument("--cert-dir", type=Path, help="directory holding tls.crt and tls.key")
    certs.add_argument("--cert-file", type=Path, help="serving certificate (PEM)")
    certs.add_argument("--key-file", type=Path, help="serving key (PEM)")
    certs.add_argument(
        "--client-ca-file",
        type=Path,
        help="require client certificates signed by this CA bundle (PEM)",
    )
    certs.add_argument(
        "--cert-poll-interval",
        type=float,
        default=1.0,
        help="seconds between checks of the certificate files for rotation (default 1)",
    )
    src = p.add_argument_group("NADs and policies")
    src.add_argument(
        "--snapshot",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="read NADs and policies from manifest files instead of the API server (repeatable)",
    )
    src.add_argument(
        "--kubeconfig",
        type=Path,
        help="kubeconfig (default: in-cluster, then $KUBECONFIG or ~/.kube/config)",
    )
    p.add_argument(
        "--kube-version",
        metavar="VERSION",
        help="validate as kube-apiserver VERSION (e.g. v1.35.4) does (default: the version "
        "the API server reports at start; with --snapshot, the newest supported)",
    )
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=8443)
    p.add_argument(
        "--health-port",
        type=int,
        help="also serve /healthz, /readyz and /metrics over plain HTTP on this port "
        "(for kubelet probes when --client-ca-file requires client certificates)",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument("--bench-floor", action="store_true", help=argparse.SUPPRESS)
    _add_limit_flags(p)
    return p


def _add_limit_flags(p: argparse.ArgumentParser) -> None:
    d = ServerLimits()
    limits = p.add_argument_group("client limits and shutdown (defaults suit the API server)")
    limits.add_argument(
        "--header-timeout",
        type=float,
        default=d.header_timeout_s,
        help="seconds for the TLS handshake and for each request head "
        f"(default {d.header_timeout_s:g})",
    )
    limits.add_argument(
        "--body-timeout",
        type=float,
        default=d.body_timeout_s,
        help=f"seconds for a request body after its head (default {d.body_timeout_s:g})",
    )
    limits.add_argument(
        "--keep-alive-timeout",
        type=float,
        default=d.keep_alive_s,
        help=f"seconds an idle connection stays open (default {d.keep_alive_s:g})",
    )
    limits.add_argument(
        "--max-connections",
        type=int,
        default=d.max_connections,
        help=f"open connections per listener (default {d.max_connections})",
    )
    limits.add_argument(
        "--max-inflight-reviews",
        type=int,
        default=d.max_inflight_reviews,
        help=f"reviews decided at once; more get 503 (default {d.max_inflight_reviews})",
    )
    limits.add_argument(
        "--body-budget-mib",
        type=int,
        default=d.body_budget_bytes // MIB,
        help="MiB of unanswered request bodies held over all connections; past it the oldest "
        f"unfinished upload is cut off (default {d.body_budget_bytes // MIB})",
    )
    limits.add_argument(
        "--shutdown-drain",
        type=float,
        default=d.shutdown_drain_s,
        help="seconds to keep accepting after SIGTERM, /readyz answering 503 "
        f"(default {d.shutdown_drain_s:g})",
    )
    limits.add_argument(
        "--shutdown-grace",
        type=float,
        default=d.shutdown_grace_s,
        help="seconds from SIGTERM to exit, partial requests cut off "
        f"(default {d.shutdown_grace_s:g})",
    )


def _limits(args: argparse.Namespace) -> ServerLimits:
    return ServerLimits(
        header_timeout_s=args.header_timeout,
        body_timeout_s=args.body_timeout,
        keep_alive_s=args.keep_alive_timeout,
        max_connections=args.max_connections,
        max_inflight_reviews=args.max_inflight_reviews,
        body_budget_bytes=args.body_budget_mib * MIB,
        shutdown_drain_s=args.shutdown_drain,
        shutdown_grace_s=args.shutdown_grace,
    )


def _certificate_files(args: argparse.Namespace) -> CertificateFiles:
    if args.cert_dir is not None:
        if args.cert_file is not None or args.key_file is not None:
            raise CertificateError("give either --cert-dir or --cert-file/--key-file, not both")
        return CertificateFiles.from_dir(args.cert_dir, args.client_ca_file)
    if args.cert_file is None or args.key_file is None:
        raise CertificateError(
            "the webhook serves HTTPS only: give --cert-dir DIR (with tls.crt and tls.key) or "
            "both --cert-file and --key-file"
        )
    return CertificateFiles(args.cert_file, args.key_file, args.client_ca_file)


def _servers(
    args: argparse.Namespace,
    source: ObjectSource,
    metrics: WebhookMetrics,
    reloader: CertificateReloader,
    limits: ServerLimits,
    lifecycle: Lifecycle,
    rules: ValidationRules,
) -> list[ListeningServer]:
    """The HTTPS listener, and the plain-HTTP probe listener when --health-port is given."""
    app = create_app(
        source,
        metrics,
        lambda: reloader.loaded,
        bench_floor=args.bench_floor,
        limits=limits,
        draining=lifecycle.is_draining,
        rules=rules,
    )
    servers = [
        build_server(
            app,
            reloader.server_context(),
            Listen(args.host, args.port),
            limits,
            metrics,
            args.log_level,
        )
    ]
    if args.health_port is not None:
        probe_app = create_probe_app(
            source, metrics, lambda: reloader.loaded, lifecycle.is_draining
        )
        listen = Listen(args.host, args.health_port)
        servers.append(build_probe_server(probe_app, listen, limits, metrics, args.log_level))
    return servers


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    metrics = WebhookMetrics()
    try:
        limits = _limits(args)
    except ValueError as e:
        print(f"mnp webhook: {e}", file=sys.stderr)
        return 2
    try:
        reloader = CertificateReloader(_certificate_files(args), metrics)
        reloader.load_initial()
    except CertificateError as e:
        print(f"mnp webhook: {e}", file=sys.stderr)
        return 2

    source: ObjectSource
    if args.snapshot:
        try:
            source = SnapshotSource.from_files(args.snapshot)
        except Exception as e:  # the manifest loader names the file and document
            print(f"mnp webhook: cannot read --snapshot: {e}", file=sys.stderr)
            return 2
        log.info(
            "serving from snapshot: %d NADs, %d policies", source.nad_count(), source.policy_count()
        )
    else:
        try:
            cluster = ClusterSource(api_client(args.kubeconfig), hooks=metrics.kube_watch)
        except Exception as e:
            print(
                f"mnp webhook: cannot configure the Kubernetes client: {e}; give --kubeconfig "
                "or run in a pod, or use --snapshot FILE",
                file=sys.stderr,
            )
            return 2
        cluster.start()
        source = cluster

    try:
        rules = validation_rules(args.kube_version, args.kubeconfig, not args.snapshot)
    except ValueError as e:
        print(f"mnp webhook: --kube-version: {e}", file=sys.stderr)
        if isinstance(source, ClusterSource):
            source.stop()
        return 2
    log.info("validating as Kubernetes %s", rules.version_text())

    lifecycle = Lifecycle()
    servers = _servers(args, source, metrics, reloader, limits, lifecycle, rules)
    reloader.start(args.cert_poll_interval)
    try:
        started = run_servers(servers, lifecycle, limits)
    finally:
        reloader.stop()
        if isinstance(source, ClusterSource):
            source.stop()
    return 0 if started else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
