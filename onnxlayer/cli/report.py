"""`onnxlayer report`: a self-contained HTML report of one model, or of several side by side."""
from __future__ import annotations

import argparse
import sys
from typing import Any

from ..api import ZOO_PREFIX, compare, layer_expression, to_onnx_source
from ..errors import SettingsError
from ..models_access import zoo_input_shapes, zoo_model
from ..present import html
from .compare import accuracy_of, add_accuracy, study_of, zoo_sources
from .shared import (EXIT_ERROR, EXIT_OK, add_budget, add_framework, add_settings, add_zoo_models, budget,
                     framework_options, input_shapes, say, write_output)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "report", help="write a self-contained HTML report: one model, or several compared",
        description="One model: the summary, the profile with its bottleneck, the complexity per block, the "
                    "layer-algebra expression as a tree and the leaves (sortable, filterable). Several models (files "
                    "and/or --zoo): the comparison table, the metrics plotted against each other, the profiles "
                    "overlaid, and with --accuracy the rank correlations with accuracy. The file needs no network.")
    p.add_argument("models", nargs="*", metavar="MODEL", help="ONNX or framework files")
    add_zoo_models(p, "add built-in zoo models (graph-only; repeatable)")
    add_settings(p)
    add_budget(p)
    add_accuracy(p)
    p.add_argument("-o", "--output", metavar="FILE.html",
                   help="write the report to FILE (default: stdout, when it is not a terminal)")
    add_framework(p)
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Exit 0, or 2 when a compared model failed (its row says why; the report is still written)."""
    sources: list[str] = list(args.models) + (zoo_sources(args.zoo) if args.zoo else [])
    if not sources:
        raise SettingsError("give a model file, several, and/or --zoo NAME[,NAME]")
    if args.accuracy is not None and len(sources) < 2:
        raise SettingsError("--accuracy correlates several models with their accuracy; give at least two")
    if not args.output and sys.stdout.isatty():  # a page of HTML is no reading at a prompt
        raise SettingsError("the report is an HTML page: give -o FILE.html, or redirect the output to a file")
    accuracy = accuracy_of(args)
    shapes = input_shapes(args)
    settings: dict[str, Any] = dict(tolerance=args.tolerance, domain=args.domain, strict=args.strict, fuse=not args.no_fuse,
                                    budget=budget(args))
    example, options = framework_options(args)
    if len(sources) == 1:
        source = sources[0]
        if source.startswith(ZOO_PREFIX):
            name = source[len(ZOO_PREFIX):]
            model, label, shapes = zoo_model(name), source, zoo_input_shapes(name, shapes)
        else:
            model, label = to_onnx_source(source, example, args.trust_pickle, options)
        write_output(html.render_analysis(layer_expression(model, shapes, path=label, **settings)), args.output)
        return EXIT_OK
    items = [(s, s if s.startswith(ZOO_PREFIX) else to_onnx_source(s, example, args.trust_pickle, options)[0])
             for s in sources]
    cmp = compare(items, shapes, **settings)
    write_output(html.render_comparison(cmp, study_of(cmp, accuracy, args)), args.output)
    for r in cmp.failed:
        say(f"onnxlayer: {r.model}: {r.error}")
    for w in cmp.warnings:
        say(f"onnxlayer: warning: {w}")
    return EXIT_ERROR if cmp.failed else EXIT_OK
