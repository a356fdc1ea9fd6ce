"""The ``mnp`` command: ``check`` here; ``webhook``, ``enforcer`` and ``lab`` dispatched lazily.

The other commands live in modules with heavier dependencies (FastAPI, OVSDB), so they are
imported only when asked for.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from mnp import __version__
from mnp.check import EXIT_UNREADABLE, run_check
from mnp.validation import DEFAULT_RULES

# subcommand -> (module with main(argv) -> int, one-line help)
DISPATCHED = {
    "webhook": ("webhook.command", "run the admission webhook server (HTTPS)"),
    "enforcer": ("enforcer.command", "reconcile MultiNetworkPolicies into OVN Northbound"),
    "lab": ("enforcer.lab.command", "run the local OVN lab (ovsdb-server, ovn-northd)"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mnp",
        description="Admission and OVN enforcement for Kubernetes MultiNetworkPolicy.",
    )
    parser.add_argument("--version", action="version", version=f"mnp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{check,webhook,enforcer,lab}")
    check = sub.add_parser(
        "check",
        help="judge MultiNetworkPolicy manifests offline, as the webhook would",
        description="Judge every MultiNetworkPolicy in the files with the webhook's rules, "
        "using the NetworkAttachmentDefinitions found in the same files. "
        "Exit 0 if all are admitted, 1 if any is rejected, 2 if input is unreadable.",
    )
    check.add_argument(
        "-f",
        "--filename",
        dest="paths",
        action="append",
        required=True,
        metavar="FILE_OR_DIR",
        help="a YAML/JSON file or a directory of them (repeatable)",
    )
    check.add_argument("-o", "--output", choices=["text", "json"], default="text")
    check.add_argument(
        "--kube-version",
        metavar="VERSION",
        help="judge as kube-apiserver VERSION (e.g. v1.35.4) would; the rules differ between "
        f"releases (default: the newest supported, {DEFAULT_RULES.version_text()})",
    )
    for name, (_, help_text) in DISPATCHED.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _dispatch(name: str, argv: list[str]) -> int:
    module_name = DISPATCHED[name][0]
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        sys.stderr.write(
            f"mnp {name}: not available in this installation: cannot import {module_name} ({e})\n"
        )
        return EXIT_UNREADABLE
    result = module.main(argv)
    return int(result or 0)


def main(argv: list[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in and args_in[0] in DISPATCHED:
        return _dispatch(args_in[0], args_in[1:])
    parser = _parser()
    args = parser.parse_args(args_in)
    if args.command == "check":
        return run_check(args.paths, args.output, kube_version=args.kube_version)
    parser.print_help()
    return EXIT_UNREADABLE
