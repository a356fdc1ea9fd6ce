"""``mnp lab up|trace|down``: a local OVN holding an OVN-Kubernetes-like topology.

``up`` starts the sandbox (unless running), fills pod addresses, builds the topology and
records the manifests in DIR/lab.json; ``trace`` prints the ovn-trace connectivity matrix
and exits 1 when OVN disagrees with the reference model; ``down`` stops every process
recorded for the lab.

``up --kube`` starts a full sandbox instead (kube-apiserver, both webhooks, the enforcer and
``pod-controller``, see ``mnp_lab.kube_lab``), with ``--cert-manager`` a real cert-manager
issuing the webhook's certificate; ``trace`` on such a lab reads the
objects from the API server unless ``-f`` is given.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mnp.manifests import ManifestError, load_manifests
from mnp.snapshot import SnapshotBuild, build_snapshot
from mnp_lab.addressing import fill_pod_networks
from mnp_lab.connectivity import ProbePort
from mnp_lab.lab_state import LAB_FILE, read_lab_state, write_lab_state
from mnp_lab.ovn import OvnError, OvnSandbox, read_pid, stop_pid
from mnp_lab.topology import build_topology
from mnp_lab.trace import NetworkMatrix, TraceDaemon, trace_matrix

EXIT_DISAGREE = 1
EXIT_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mnp lab", description=__doc__)
    sub = parser.add_subparsers(dest="action", required=True)

    def files(p: argparse.ArgumentParser, required: bool) -> None:
        p.add_argument(
            "-f",
            "--filename",
            dest="paths",
            action="append",
            required=required,
            metavar="FILE_OR_DIR",
            help="manifests: Namespaces, Pods, NADs, MultiNetworkPolicies (repeatable)",
        )

    up = sub.add_parser("up", help="start OVN and build the topology for the manifests")
    up.add_argument("--dir", required=True, type=Path)
    up.add_argument(
        "--kube",
        action="store_true",
        help="also run kube-apiserver, mnp webhook, mnp enforcer and a pod controller; "
        "the manifests are applied with kubectl",
    )
    up.add_argument(
        "--cert-manager",
        action="store_true",
        help="with --kube: a real cert-manager (controller and cainjector) issues the webhook's "
        "certificate from config/certmanager/ and injects its CA into the webhook configurations",
    )
    up.add_argument(
        "--cert-manager-feature-gates",
        default="",
        metavar="GATES",
        help="with --cert-manager: cainjector's feature gates, like CAInjectorMerging=false",
    )
    files(up, False)
    tr = sub.add_parser("trace", help="print the ovn-trace connectivity matrix")
    tr.add_argument("--dir", required=True, type=Path)
    files(tr, False)
    tr.add_argument(
        "--port",
        dest="ports",
        action="append",
        type=_probe_port,
        metavar="PORT/PROTO",
        help="a port to probe, like 80/TCP (repeatable; default: the ports policies name)",
    )
    tr.add_argument("-o", "--output", choices=["text", "json"], default="text")
    down = sub.add_parser("down", help="stop every process of the lab")
    down.add_argument("--dir", required=True, type=Path)
    # Started by `up --kube`; listed so that --help shows it.
    sub.add_parser(
        "pod-controller",
        help="(started by up --kube) play OVN-Kubernetes: pod addresses and switch ports",
        add_help=False,
    )
    sub.add_parser(
        "secret-projector",
        help="(started by up --kube --cert-manager) project the webhook's Secret like a kubelet",
        add_help=False,
    )
    return parser


def _probe_port(text: str) -> ProbePort:
    number, _, proto = text.partition("/")
    proto = (proto or "TCP").upper()
    if not number.isdigit() or not 0 < int(number) < 65536 or proto not in ("TCP", "UDP", "SCTP"):
        raise argparse.ArgumentTypeError(
            f"{text!r}: write PORT/PROTO with PORT 1..65535 and PROTO TCP, UDP or SCTP (80/TCP)"
        )
    return ProbePort(proto, int(number))  # type: ignore[arg-type]


def _load(paths: list[str]) -> SnapshotBuild:
    objects = [m.obj for m in load_manifests(paths)]
    return build_snapshot(fill_pod_networks(objects))


def _report(build: SnapshotBuild) -> None:
    for problem in build.problems:
        print(f"warning: {problem}", file=sys.stderr)
    for key, errors in build.snapshot.rejected:
        print(f"rejected MultiNetworkPolicy {key}: {'; '.join(errors)}", file=sys.stderr)


def _up_kube(dir: Path, paths: list[str], cert_manager: bool, feature_gates: str) -> int:
    from mnp_lab.cert_manager import CertManagerError, LabCertManagerOptions
    from mnp_lab.kube import KubeControlPlaneError
    from mnp_lab.kube_binaries import KubeBinariesError
    from mnp_lab.kube_lab import KubeLab, KubeLabError

    try:
        options = LabCertManagerOptions(feature_gates) if cert_manager else None
        lab = KubeLab(dir, cert_manager=options).start(
            [os.path.abspath(p) for p in paths], strict=False
        )
    except (KubeLabError, KubeBinariesError, KubeControlPlaneError, CertManagerError) as e:
        print(f"mnp lab up: {e}", file=sys.stderr)
        return EXIT_ERROR
    for failure in lab.failures:
        print(failure.stderr, file=sys.stderr)
    sys.stdout.write(lab.describe())
    return 1 if lab.failures else 0


def _up(dir: Path, paths: list[str]) -> int:
    paths = [os.path.abspath(p) for p in paths]
    build = _load(paths)
    _report(build)
    sandbox = OvnSandbox(dir)
    if not sandbox.is_running():
        sandbox.stop()  # a partly running sandbox: clear it before starting afresh
        sandbox.start()
    layouts = build_topology(sandbox, build.snapshot)
    pids = read_lab_state(sandbox.dir / LAB_FILE).get("pids") or []
    write_lab_state(sandbox.dir / LAB_FILE, manifests=paths, pids=pids)
    ports = sum(len(lay.ports) for lay in layouts.values())
    print(f"lab up in {sandbox.dir}: {len(layouts)} networks, {ports} pod ports")
    print(f"OVN_NB_DB={sandbox.nb_remote}")
    print(f"OVN_SB_DB={sandbox.sb_remote}")
    return 0


def _render(matrices: list[NetworkMatrix], output: str) -> int:
    if output == "json":
        from mnp_lab.matrix import render_json

        sys.stdout.write(render_json(matrices))
    else:
        from mnp_lab.matrix import render_text

        sys.stdout.write(render_text(matrices, color=sys.stdout.isatty()))
    return EXIT_DISAGREE if any(m.disagreements for m in matrices) else 0


def _trace_kube(dir: Path, ports: list[ProbePort] | None, output: str) -> int:
    from mnp_lab.kube_lab import KubeLab, KubeLabError

    try:
        lab = KubeLab.attach(dir)
        build = lab.wait_converged()
    except KubeLabError as e:
        print(f"mnp lab trace: {e}", file=sys.stderr)
        return EXIT_ERROR
    _report(build)
    return _render(lab.trace(ports, wait=False), output)


def _trace(dir: Path, paths: list[str] | None, ports: list[ProbePort] | None, output: str) -> int:
    if "kube" in read_lab_state(dir / LAB_FILE):
        if paths:
            # The pod controller owns this lab's topology; files would fight it.
            print(
                f"mnp lab trace: {dir} is a Kubernetes lab: apply the files with "
                f"`kubectl --kubeconfig {dir}/kubeconfig apply -f ...`, then trace without -f",
                file=sys.stderr,
            )
            return EXIT_ERROR
        return _trace_kube(dir, ports, output)
    sandbox = OvnSandbox.attach(dir)
    if not paths:
        paths = read_lab_state(dir / LAB_FILE).get("manifests") or []
        if not paths:
            print(f"no manifests: give -f or run `mnp lab up --dir {dir} -f ...`", file=sys.stderr)
            return EXIT_ERROR
    build = _load(paths)
    _report(build)
    build_topology(sandbox, build.snapshot)  # no-op unless the manifests changed
    return _render(trace_matrix(sandbox, build.snapshot, ports), output)


def _down(dir: Path) -> int:
    lab = read_lab_state(dir / LAB_FILE)
    # Last started first: the enforcer and webhook before the API server, etcd last.
    for pid in reversed(lab.get("pids") or []):
        if isinstance(pid, int):
            stop_pid(pid)
    sandbox = OvnSandbox(dir)
    TraceDaemon(sandbox).stop()
    sandbox.stop()
    left = [p for p in (read_pid(sandbox.pidfile(d)) for d in sandbox.DAEMONS) if p]
    if lab:
        write_lab_state(dir / LAB_FILE, pids=[], kube=None)
    print(f"lab down in {dir}" + (f" (pid files left: {left})" if left else ""))
    return 0


def main(argv: list[str]) -> int:
    if argv and argv[0] == "pod-controller":
        from mnp_lab.pod_network_controller import main as pod_controller_main

        return pod_controller_main(argv[1:])
    if argv and argv[0] == "secret-projector":
        from mnp_lab.secret_projection import main as secret_projector_main

        return secret_projector_main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        if args.action == "up":
            if args.cert_manager_feature_gates and not args.cert_manager:
                print(
                    "mnp lab up: --cert-manager-feature-gates needs --cert-manager", file=sys.stderr
                )
                return EXIT_ERROR
            if args.kube:
                return _up_kube(
                    args.dir, args.paths or [], args.cert_manager, args.cert_manager_feature_gates
                )
            if args.cert_manager:
                print("mnp lab up: --cert-manager needs --kube", file=sys.stderr)
                return EXIT_ERROR
            if not args.paths:
                print("mnp lab up: give -f FILE_OR_DIR (the manifests to build)", file=sys.stderr)
                return EXIT_ERROR
            return _up(args.dir, args.paths)
        if args.action == "trace":
            return _trace(args.dir, args.paths, args.ports, args.output)
        return _down(args.dir)
    except (ManifestError, OvnError) as e:
        print(f"mnp lab {args.action}: {e}", file=sys.stderr)
        return EXIT_ERROR
