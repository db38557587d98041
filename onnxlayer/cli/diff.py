"""`onnxlayer diff OLD NEW`: what changed between two models, and whether the architecture did."""
from __future__ import annotations

import argparse

from ..gate import diff_models
from ..present import diff as present
from .shared import EXIT_OK, add_framework, add_settings, framework_options, input_shapes, write_output

#: `--exit-code`: the architecture changed (git's convention: 1 = differences found).
EXIT_CHANGED = 1


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "diff", help="compare two models: summary deltas, changed leaves, architectural verdict",
        description="Compare two models (ONNX or framework files, zoo:NAME, or saved `analyze --format json` "
                    "results): the summaries side by side with their changes, leaves aligned by scope and op type "
                    "(added, removed, changed), and the verdict 'no architectural change' when C, P, P̄, D0, W, "
                    "MACs and the nonlinear units agree to 1e-9.")
    p.add_argument("old", metavar="OLD", help="the reference model (or .json analysis)")
    p.add_argument("new", metavar="NEW", help="the model compared with it (or .json analysis)")
    add_settings(p)
    p.add_argument("--format", choices=present.FORMATS, default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    p.add_argument("--leaves", choices=present.LEAF_CHOICES, default="changed",
                   help="list only the leaves that differ (default) or every aligned pair")
    p.add_argument("--exit-code", action="store_true",
                   help="exit 1 when the architecture changed (like `git diff --exit-code`); default: exit 0")
    add_framework(p)
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    example, options = framework_options(args)
    result = diff_models(args.old, args.new, input_shapes(args), tolerance=args.tolerance, domain=args.domain,
                         strict=args.strict, fuse=not args.no_fuse, example_inputs=example,
                         trust_pickle=args.trust_pickle, **options)
    write_output(present.render(result, args.format, leaves=args.leaves), args.output)
    return EXIT_CHANGED if args.exit_code and result.architectural_change else EXIT_OK
