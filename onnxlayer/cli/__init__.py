"""Command line: `onnxlayer SUBCOMMAND ...`, one module of this package per subcommand.

Each subcommand module has `add_parser(subparsers)` (which binds its `run(args) -> exit code`);
adding one is a new module and its name in SUBCOMMANDS. The CLI parses arguments, calls the
public API and writes what `onnxlayer.present` renders; nothing in the package imports it.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from ..errors import OnnxLayerError, OpaqueLeafError
from ..version import __version__
from . import algebra, analyze, audit, check, compare, convert, diff, ops, probe, report, zoo
from .shared import EXIT_ERROR, EXIT_OK, EXIT_STRICT

#: The subcommands, in the order `onnxlayer --help` lists them.
SUBCOMMANDS = (analyze, convert, ops, zoo, compare, report, diff, check, audit, algebra, probe)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's own convention)
        self.exit(EXIT_ERROR, f"onnxlayer: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="onnxlayer", description="Layer complexity and intrinsic power of ONNX models (Neural Network Layer Algebra).")
    parser.add_argument("--version", action="version", version=f"onnxlayer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for command in SUBCOMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; errors become one line on stderr (exit 2, or 1 for --strict's opaque leaves)."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except OpaqueLeafError as exc:
        print(f"onnxlayer: {exc}", file=sys.stderr)
        return EXIT_STRICT
    except OnnxLayerError as exc:
        print(f"onnxlayer: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("onnxlayer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except (MemoryError, RecursionError) as exc:
        print(f"onnxlayer: error: the model is too large or deep to analyse here ({type(exc).__name__})", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a bug: still one line, and a way to see the traceback
        if os.environ.get("ONNXLAYER_DEBUG"):
            raise
        print(f"onnxlayer: internal error: {type(exc).__name__}: {exc} (set ONNXLAYER_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_ERROR
