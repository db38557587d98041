"""`onnxlayer compare`: the global metrics of several models, one row each; with --accuracy, their rank
correlations with published accuracy; with --report, the same as a self-contained HTML page."""
from __future__ import annotations

import argparse
from typing import Any, Sequence

from ..api import ZOO_PREFIX, compare
from ..comparison import COLUMNS, Comparison, column
from ..errors import SettingsError
from ..models_access import zoo_module
from ..present import comparison as present
from ..present import html
from ..study import AccuracyStudy, accuracy_study, read_accuracy
from .shared import (EXIT_ERROR, EXIT_OK, add_budget, add_settings, add_zoo_models, budget, input_shapes, say,
                     write_output)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("compare", help="compare the global metrics of several models, one row each")
    p.add_argument("models", nargs="*", metavar="MODEL", help="ONNX files")
    add_zoo_models(p, "add built-in zoo models (graph-only; repeatable)")
    add_settings(p)
    add_budget(p)
    p.add_argument("--sort", metavar="COLUMN", help=f"sort rows by a column: {', '.join(c.key for c in COLUMNS)} "
                   "(or a header/alias: C, P, pbar, D0, L, U, W, macs, vc)")
    p.add_argument("--desc", action="store_true", help="sort in descending order")
    p.add_argument("--format", choices=present.FORMATS, default="table")
    p.add_argument("-o", "--output", metavar="FILE", help="write the comparison to FILE")
    add_accuracy(p)
    p.add_argument("--report", metavar="FILE.html", help="also write a self-contained HTML report to FILE")
    p.set_defaults(run=run)
    return p


def add_accuracy(p: argparse.ArgumentParser) -> None:
    p.add_argument("--accuracy", metavar="FILE.csv",
                   help="published accuracy (columns model, top1; a model matches by name or path): adds Spearman ρ "
                        "and Kendall τ of C, P, P̄, U, L, W and MACs against top1 with bootstrap 95%% intervals")


def accuracy_of(args: argparse.Namespace) -> dict[str, float] | None:
    """The table of --accuracy, read before any model is analysed (a bad file fails fast)."""
    return None if args.accuracy is None else read_accuracy(args.accuracy)


def study_of(cmp: Comparison, accuracy: dict[str, float] | None, args: argparse.Namespace) -> AccuracyStudy | None:
    return None if accuracy is None else accuracy_study(cmp, accuracy, args.accuracy)


def zoo_sources(specs: str | Sequence[str]) -> list[str]:
    """`all` or `NAME,NAME,...` (or several such, from a repeated `--zoo`) → ["zoo:NAME", ...],
    each model once, in the order given; unknown names are a SettingsError."""
    available = zoo_module().names()
    names: dict[str, None] = {}
    for spec in [specs] if isinstance(specs, str) else specs:
        if spec.strip() == "all":
            names.update(dict.fromkeys(available))
            continue
        given = [n.strip() for n in spec.split(",") if n.strip()]
        unknown = [n for n in given if n not in available]
        if unknown or not given:
            raise SettingsError(f"--zoo {spec!r}: unknown model(s) {', '.join(unknown) or '(none given)'}; "
                                f"give 'all' or names from: {', '.join(available)}")
        names.update(dict.fromkeys(given))
    return [ZOO_PREFIX + n for n in names]


def run(args: argparse.Namespace) -> int:
    """Exit 0, or 2 when some model failed (after printing every row)."""
    sources: list[Any] = list(args.models)
    if args.zoo:
        sources += zoo_sources(args.zoo)
    if not sources:
        raise SettingsError("give model files and/or --zoo all|NAME,NAME")
    if args.sort:
        column(args.sort)  # fail before the work on a typo
    accuracy = accuracy_of(args)
    result = compare(sources, input_shapes(args), tolerance=args.tolerance, domain=args.domain, strict=args.strict,
                     fuse=not args.no_fuse, budget=budget(args))
    if args.sort:
        result = result.sorted(args.sort, descending=args.desc)
    study = study_of(result, accuracy, args)
    write_output(present.render(result, args.format, study), args.output)
    if args.report:
        write_output(html.render_comparison(result, study), args.report)
    for r in result.failed:
        say(f"onnxlayer: {r.model}: {r.error}")
    for w in result.warnings:
        say(f"onnxlayer: warning: {w}")
    return EXIT_ERROR if result.failed else EXIT_OK
