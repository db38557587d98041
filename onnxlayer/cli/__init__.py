"""Command line: `onnxlayer SUBCOMMAND ...`, one module of this package per subcommand.

Each subcommand module has `add_parser(subparsers)` (which binds its `run(args) -> exit code`);
adding one is a new module and its name in COMMANDS. The CLI parses arguments, calls the
public API and writes what `onnxlayer.present` renders; nothing in the package imports it.
Only the subcommand being run is imported (its imports are what it needs: `analyze` never
loads the probes, the audits or the HTML reports), so `--version` and light commands start fast.
"""
from __future__ import annotations

import argparse
import atexit
import os
import sys
import threading
from importlib import import_module
from types import ModuleType
from typing import Any, Sequence

from .. import onnxapi
from ..budget import gc_paused
from ..errors import OnnxLayerError, OpaqueLeafError
from ..fitcache import NO_CACHE_ENV
from ..version import __version__
from .shared import EXIT_ERROR, EXIT_OK, EXIT_STRICT, say

#: The subcommands (each the module of that name in this package), in the order `--help` lists them.
COMMANDS = ("analyze", "convert", "ops", "zoo", "compare", "report", "diff", "check", "audit", "algebra", "probe")


def command_module(name: str) -> ModuleType:
    """The module of subcommand `name`, imported on first use."""
    return import_module(f"{__name__}.{name}")


def __getattr__(name: str) -> Any:
    if name == "SUBCOMMANDS":  # the subcommand modules, in COMMANDS order (imports every one)
        return tuple(command_module(c) for c in COMMANDS)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's own convention)
        self.exit(EXIT_ERROR, f"onnxlayer: error: {message}\n")


def build_parser(commands: Sequence[str] = COMMANDS) -> argparse.ArgumentParser:
    """The parser of `onnxlayer` with the subparsers of `commands`."""
    parser = _Parser(prog="onnxlayer", description="Layer complexity and intrinsic power of ONNX models (Neural Network Layer Algebra).")
    parser.add_argument("--version", action="version", version=f"onnxlayer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in commands:
        command_module(name).add_parser(sub)
    return parser


def commands_for(argv: Sequence[str]) -> tuple[str, ...]:
    """The subcommands whose parsers `argv` needs: the one it names first; none for a lone
    --version; every one otherwise (--help and mistakes list them all)."""
    if argv and argv[0] in COMMANDS:
        return (argv[0],)
    if list(argv) == ["--version"]:
        return ()
    return COMMANDS


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; errors become one line on stderr (exit 2, or 1 for --strict's opaque leaves)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    with gc_paused():  # the command's modules load here
        args = build_parser(commands_for(argv)).parse_args(argv)
    before = os.environ.get(NO_CACHE_ENV)
    if getattr(args, "no_cache", False):  # for this command and the workers it starts
        os.environ[NO_CACHE_ENV] = "1"
    try:
        return args.run(args)
    except OpaqueLeafError as exc:
        say(f"onnxlayer: {exc}")
        return EXIT_STRICT
    except OnnxLayerError as exc:
        say(f"onnxlayer: error: {exc}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("onnxlayer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except (MemoryError, RecursionError) as exc:
        say(f"onnxlayer: error: the model is too large or deep to analyse here ({type(exc).__name__})")
        return EXIT_ERROR
    except Exception as exc:  # a bug: still one line, and a way to see the traceback
        if os.environ.get("ONNXLAYER_DEBUG"):
            raise
        say(f"onnxlayer: internal error: {type(exc).__name__}: {exc} (set ONNXLAYER_DEBUG=1 for a traceback)")
        return EXIT_ERROR
    finally:
        if before is None:
            os.environ.pop(NO_CACHE_ENV, None)
        else:
            os.environ[NO_CACHE_ENV] = before


def entry_point() -> None:
    """The `onnxlayer` command (and `python -m onnxlayer`): `main`, then the process ends without
    tearing the interpreter down. Exit handlers run (temporary files are removed, workers stopped)
    and the output is flushed as at a normal exit; what is skipped is freeing every object of onnx,
    numpy and the analysis one by one, 50–70 ms of a 0.4 s `analyze`. With another thread still
    running (which a normal exit would wait for), the exit is the normal one. Before the command
    runs, onnx's protobuf classes and C++ extension are loaded without the package's own imports
    (`onnxapi.load_lightly`): a command that needs the rest of onnx imports it when it does."""
    onnxapi.load_lightly()
    code = main()
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and t.is_alive() and not t.daemon]
    if others or not isinstance(code, int):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a reader that went away, or a stream closed: nothing more to say
            pass
    os._exit(code)
