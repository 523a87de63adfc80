"""The ``cspdet`` command: one parser, one module per subcommand (``add_parser`` + ``run``)."""
from __future__ import annotations

import argparse
import importlib
import sys

from .. import __version__

# Subcommand -> module. Modules import heavy packages inside ``run`` so ``--help`` stays fast.
COMMANDS = {
    "info": "detector.cli.info",
    "convert": "detector.cli.convert",
    "detect": "detector.cli.detect",
    "train": "detector.cli.train",
    "val": "detector.cli.val",
    "export": "detector.cli.export",
    "bench": "detector.cli.bench",
    "synth": "detector.cli.synth",
    "models": "detector.cli.models",
}


class CLIError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cspdet", description="Real-time CSPNet object detectors.")
    parser.add_argument("--version", action="version", version=f"cspdet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 0
    try:
        return args.run(args) or 0
    except (CLIError, FileNotFoundError, ValueError) as e:
        print(f"cspdet {args.command}: error: {e}", file=sys.stderr)
        return 2
