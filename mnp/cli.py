"""The ``mnp`` command: ``check`` here; ``webhook``, ``enforcer`` and ``lab`` imported on use.

The other commands live in modules with heavier dependencies (FastAPI, OVSDB), so each is
imported only when asked for. ``lab`` is the sandbox, a separate distribution (``mnp-lab``)
installed only with the ``lab`` extra, which registers itself as an entry point; without it,
``mnp lab`` says how to get it.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from mnp import __version__
from mnp.check import EXIT_UNREADABLE, run_check
from mnp.validation import DEFAULT_RULES

# subcommand -> one-line help; each runs through its function below.
DISPATCHED = {
    "webhook": "run the admission webhook server (HTTPS)",
    "enforcer": "reconcile MultiNetworkPolicies into OVN Northbound",
    "lab": "run the local sandbox: OVN, kube-apiserver, ovn-trace (needs the lab extra)",
}
# Where optional distributions register subcommands (mnp-lab registers ``lab``).
COMMANDS_ENTRY_POINTS = "mnp.commands"
LAB_MISSING = (
    "mnp lab: the sandbox is not installed; it comes with the lab extra.\n"
    "From a checkout of the mnp repository: pip install '.[lab]' (or `make venv`)\n"
)


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
    for name, help_text in DISPATCHED.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _webhook(argv: list[str]) -> int:
    from webhook.command import main as webhook_main

    return webhook_main(argv)


def _enforcer(argv: list[str]) -> int:
    from enforcer.command import main as enforcer_main

    return enforcer_main(argv)


def _lab(argv: list[str]) -> int:
    """The sandbox plugs itself in (entry point ``mnp.commands: lab``): the product never
    imports it, so a plain install simply has no such entry point."""
    found = entry_points(group=COMMANDS_ENTRY_POINTS, name="lab")
    if not found:
        sys.stderr.write(LAB_MISSING)
        return EXIT_UNREADABLE
    lab_main = next(iter(found)).load()
    return int(lab_main(argv) or 0)


def _dispatch(name: str, argv: list[str]) -> int:
    if name == "webhook":
        return _webhook(argv)
    if name == "enforcer":
        return _enforcer(argv)
    return _lab(argv)


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
