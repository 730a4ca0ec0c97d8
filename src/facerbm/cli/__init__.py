"""The ``facerbm`` command line: one module per subcommand, each with add_arguments and run."""

from __future__ import annotations

import argparse
import logging
import sys

from facerbm import __version__
from facerbm.cli import evaluate, filters, reconstruct, sample, train
from facerbm.cli.common import UserError

COMMANDS = {
    "train": train,
    "reconstruct": reconstruct,
    "filters": filters,
    "sample": sample,
    "evaluate": evaluate,
}


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps each command's description as laid out in its docstring and shows defaults, except the
    uninformative None/False ones and those the help text already states."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False) or action.default is argparse.SUPPRESS:
            return action.help or ""
        if "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facerbm",
        description="Learn facial features with continuous restricted Boltzmann machines.",
    )
    parser.add_argument("--version", action="version", version=f"facerbm {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every epoch and detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=module.__doc__,
            formatter_class=_HelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 failed run, 2 bad usage or input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    try:
        return int(args._run(args) or 0)
    except UserError as e:
        print(f"facerbm {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, PermissionError) as e:
        print(f"facerbm {args.command}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # full disk, read-only folder, ...
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        print(f"facerbm {args.command}: error: {e.strerror or e}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"facerbm {args.command}: interrupted", file=sys.stderr)
        return 130
