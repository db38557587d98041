"""`onnxlayer analyze`: one model's report (table, JSON, CSV or markdown)."""
from __future__ import annotations

import argparse

from ..budget import gc_paused
from ..errors import SettingsError
from ..loading import begin_reading
from ..present import analysis as present
from .shared import (EXIT_OK, add_budget, add_framework, add_settings, add_zoo, budget, framework_options, input_shapes,
                     model_source, say, write_output)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("analyze", help="analyse one model")
    p.add_argument("model", nargs="?", help="path to an ONNX model")
    add_zoo(p, "analyse a built-in zoo model instead of a file")
    add_settings(p)
    add_budget(p)
    p.add_argument("--format", choices=present.FORMATS, default="table")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    p.add_argument("--top", type=int, default=10, help="leaves to list by complexity (table/markdown)")
    p.add_argument("--group-by", metavar="scope[:DEPTH]", help="aggregate leaves by name scope")
    add_framework(p)
    p.set_defaults(run=run)
    return p


def parse_group_by(text: str | None) -> int | None | bool:
    """--group-by: False without it, None for `scope` (full scopes), DEPTH for `scope:DEPTH`."""
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


def run(args: argparse.Namespace) -> int:
    if args.top < 0:
        raise SettingsError(f"--top must be 0 or more, got {args.top}")
    group_by = parse_group_by(args.group_by)
    source, label, shapes = model_source(args, input_shapes(args))
    if not args.zoo and str(source).lower().endswith(".onnx"):
        begin_reading(source)  # the file's hash runs beside the imports of the analysis
    with gc_paused():
        from ..api import analyze

    settings = dict(tolerance=args.tolerance, domain=args.domain, strict=args.strict, fuse=not args.no_fuse, budget=budget(args))
    if args.zoo:
        result = analyze(source, shapes, path=label, **settings)
    else:
        example, options = framework_options(args)
        result = analyze(source, shapes, example_inputs=example, trust_pickle=args.trust_pickle, **settings, **options)
    write_output(present.render(result, args.format, top=args.top, group_by=group_by), args.output)
    if args.output or args.format != "table":  # the report's warnings do not reach the terminal: these must
        for w in result.opaque_warnings:
            say(f"onnxlayer: warning: {w}")
    return EXIT_OK
