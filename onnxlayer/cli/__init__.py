"""Command line: `onnxlayer analyze|ops|zoo|compare|algebra|probe|convert`."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from . import __version__
from .errors import OnnxLayerError, OpaqueLeafError, SettingsError

EXIT_OK, EXIT_STRICT, EXIT_ERROR = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's own convention)
        self.exit(EXIT_ERROR, f"onnxlayer: error: {message}\n")


def _add_settings(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME=1x3x224x224",
                   help="fix a graph input's shape (repeatable); batch dims default to 1")
    p.add_argument("--tolerance", type=float, default=0.01, help="PWL fitting tolerance ε (default 0.01)")
    p.add_argument("--domain", type=float, default=8.0, help="PWL fitting domain bound B (default 8)")
    p.add_argument("--strict", action="store_true", help="opaque leaves (no registry rule) are an error (exit 1)")
    p.add_argument("--no-fuse", action="store_true", help="skip the SPEC §4 fusions (for debugging)")


def _add_framework(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("framework models (.keras, .h5, SavedModel, .pt2)")
    g.add_argument("--exporter", choices=("auto", "dynamo", "legacy"), default=None,
                   help="PyTorch exporter (default: dynamo, legacy as fallback)")
    g.add_argument("--opset", type=int, default=None, help="ONNX opset for conversion (default 18)")
    g.add_argument("--trust-pickle", action="store_true",
                   help="load a .pt/.pth pickle (runs its code: only for files you trust)")
    g.add_argument("--example-shape", action="append", default=[], metavar="1x3x224x224",
                   help="example input shape for a trusted pickled nn.Module (repeatable, in order)")


def _framework_options(args: argparse.Namespace) -> tuple[object, dict]:
    """(example inputs, converter options) from the CLI flags."""
    options: dict = {}
    if args.exporter:
        options["exporter"] = args.exporter
    if args.opset:
        options["opset"] = args.opset
    example = None
    if args.example_shape:
        from .converters import require

        torch = require("torch")
        shapes = []
        for text in args.example_shape:
            try:
                shapes.append(tuple(int(d) for d in text.lower().split("x")))
            except ValueError:
                raise SettingsError(f"--example-shape {text!r}: expected dims like 1x3x224x224") from None
        tensors = tuple(torch.randn(*shape) for shape in shapes)
        example = tensors[0] if len(tensors) == 1 else tensors
    return example, options


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="onnxlayer", description="Layer complexity and intrinsic power of ONNX models (Neural Network Layer Algebra).")
    parser.add_argument("--version", action="version", version=f"onnxlayer {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    a = sub.add_parser("analyze", help="analyse one model")
    a.add_argument("model", nargs="?", help="path to an ONNX model")
    a.add_argument("--zoo", metavar="NAME", help="analyse a built-in zoo model instead of a file")
    _add_settings(a)
    a.add_argument("--format", choices=("table", "json", "csv", "markdown"), default="table")
    a.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    a.add_argument("--top", type=int, default=10, help="leaves to list by complexity (table/markdown)")
    a.add_argument("--group-by", metavar="scope[:DEPTH]", help="aggregate leaves by name scope")
    _add_framework(a)

    c = sub.add_parser("convert", help="convert a Keras/TensorFlow/PyTorch model file to ONNX")
    c.add_argument("source", help=".keras, .h5, SavedModel directory, .pt2 (or a trusted pickle)")
    c.add_argument("-o", "--output", metavar="FILE", required=True)
    _add_framework(c)

    sub.add_parser("ops", help="list the registry of local transfer approximations").add_argument(
        "--format", choices=("table", "csv", "markdown"), default="table")
    z = sub.add_parser("zoo", help="list or export the built-in architectures")
    z.add_argument("action", nargs="?", choices=("list", "export"), default="list")
    z.add_argument("name", nargs="?")
    z.add_argument("-o", "--output", metavar="FILE")
    z.add_argument("--graph-only", action="store_true", help="export without weights (external data stubs)")

    from .compare import add_compare_parser
    from .expression import add_algebra_parser
    from .probe.cli import add_parser as add_probe_parser

    add_compare_parser(sub)
    add_algebra_parser(sub)
    add_probe_parser(sub)
    return parser


def parse_group_by(text: str | None) -> int | None | bool:
    if text is None:
        return False
    kind, _, depth = text.partition(":")
    if kind != "scope":
        raise SettingsError(f"--group-by {text!r}: expected scope or scope:DEPTH")
    if not depth:
        return None
    if not depth.isdigit() or int(depth) < 1:
        raise SettingsError(f"--group-by {text!r}: DEPTH must be a positive integer")
    return int(depth)


def _write(text: str, path: str | None) -> None:
    if path:
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            raise SettingsError(f"cannot write {path}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)


def _save_model(model, path: str) -> None:
    import onnx

    try:
        onnx.save(model, path)
    except (OSError, ValueError) as exc:
        raise SettingsError(f"cannot write {path}: {exc}") from None


def cmd_analyze(args: argparse.Namespace) -> int:
    from .analysis import analyze
    from .graph import parse_input_shape
    from .present import render

    group_by = parse_group_by(args.group_by)
    shapes = dict(parse_input_shape(s) for s in args.input_shape)
    if bool(args.model) == bool(args.zoo):
        raise SettingsError("give exactly one of MODEL or --zoo NAME")
    if args.zoo:
        from .models_access import zoo_input_shapes, zoo_model

        model, label = zoo_model(args.zoo), f"zoo:{args.zoo}"
        shapes = zoo_input_shapes(args.zoo, shapes)
        result = analyze(model, shapes, tolerance=args.tolerance, domain=args.domain, strict=args.strict,
                         fuse=not args.no_fuse, path=label)
    else:
        example, options = _framework_options(args)
        result = analyze(args.model, shapes, example_inputs=example, tolerance=args.tolerance, domain=args.domain,
                         strict=args.strict, fuse=not args.no_fuse, trust_pickle=args.trust_pickle, **options)
    _write(render(result, args.format, top=args.top, group_by=group_by), args.output)
    return EXIT_OK


def cmd_ops(args: argparse.Namespace) -> int:
    from . import analysis  # noqa: F401  (registers every rule)
    from .registry import REGISTRY, iter_ops

    rows = list(iter_ops(REGISTRY.entries()))
    if args.format == "csv":
        lines = ["op_type,domain,since,kind,exact,summary"] + [
            f'{op},{dom},{since},{kind},{exact},"{summary}"' for op, dom, since, kind, exact, summary in rows]
    elif args.format == "markdown":
        lines = ["| op | domain | since | kind | exact | approximation |", "|---|---|--:|---|---|---|"] + [
            f"| {op} | {dom} | {since} | {kind} | {'exact' if exact else 'approximate'} | {summary} |"
            for op, dom, since, kind, exact, summary in rows]
    else:
        w = max(len(r[0]) for r in rows)
        lines = [f"{'op'.ljust(w)}  {'domain':<13} {'since':>5}  {'kind':<20} {'exact':<11} approximation"] + [
            f"{op.ljust(w)}  {dom:<13} {since:>5}  {kind:<20} {'exact' if exact else 'approximate':<11} {summary}"
            for op, dom, since, kind, exact, summary in rows]
        lines.append(f"\n{len(rows)} rules")
    print("\n".join(lines))
    return EXIT_OK


def cmd_zoo(args: argparse.Namespace) -> int:
    from .models_access import zoo_module

    zoo = zoo_module()
    if args.action == "list":
        for name in zoo.names():
            print(f"{name:<22} {zoo.describe(name)}")
        return EXIT_OK
    if not args.name or not args.output:
        raise SettingsError("usage: onnxlayer zoo export NAME -o FILE.onnx")
    from .models_access import zoo_model

    _save_model(zoo_model(args.name, weights=not args.graph_only), args.output)
    print(f"wrote {args.output}")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    from .compare import run_compare

    return run_compare(args)


def cmd_algebra(args: argparse.Namespace) -> int:
    from .expression import run_algebra

    return run_algebra(args)


def cmd_probe(args: argparse.Namespace) -> int:
    from .probe.cli import run

    return run(args)


def cmd_convert(args: argparse.Namespace) -> int:
    from .converters import convert

    example, options = _framework_options(args)
    model = convert(args.source, example, trust_pickle=args.trust_pickle, **options)
    _save_model(model, args.output)
    print(f"wrote {args.output} ({len(model.graph.node)} nodes, opset {model.opset_import[0].version})")
    return EXIT_OK


COMMANDS = {"analyze": cmd_analyze, "convert": cmd_convert, "ops": cmd_ops, "zoo": cmd_zoo, "compare": cmd_compare, "algebra": cmd_algebra,
            "probe": cmd_probe}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
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


if __name__ == "__main__":
    sys.exit(main())
