"""`onnxlayer ops`: the registry of local transfer approximations, one line per rule."""
from __future__ import annotations

import argparse

from .. import ops as _rules  # noqa: F401  (registers every rule)
from ..present import registry as present
from ..registry import REGISTRY
from .shared import EXIT_OK, write_output


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("ops", help="list the registry of local transfer approximations")
    p.add_argument("--format", choices=present.FORMATS, default="table")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    write_output(present.render(REGISTRY.entries(), args.format), None)
    return EXIT_OK
