"""`onnxlayer algebra`: the network as a series/parallel layer-algebra expression."""
from __future__ import annotations

import argparse

from ..api import layer_expression
from ..errors import SettingsError
from ..present import expression as present
from .shared import (EXIT_OK, add_budget, add_settings, add_zoo, budget, input_shapes, model_source, require_one_model,
                     write_output)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("algebra", help="print the network as a series/parallel layer-algebra expression")
    p.add_argument("model", nargs="?", help="path to an ONNX model")
    add_zoo(p, "a built-in zoo model instead of a file")
    add_settings(p)
    add_budget(p)
    p.add_argument("--format", choices=present.FORMATS, default="text")
    p.add_argument("--width", type=int, default=present.FORMULA_WIDTH,
                   help=f"longest formula on one line (default {present.FORMULA_WIDTH})")
    p.add_argument("-o", "--output", metavar="FILE", help="write the expression to FILE")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    require_one_model(args)
    if args.width < 20:
        raise SettingsError(f"--width {args.width}: give at least 20")
    source, label, shapes = model_source(args, input_shapes(args))
    expr = layer_expression(source, shapes, tolerance=args.tolerance, domain=args.domain, strict=args.strict,
                            fuse=not args.no_fuse, path=label, budget=budget(args))
    write_output(present.render(expr, args.format, args.width), args.output)
    return EXIT_OK
