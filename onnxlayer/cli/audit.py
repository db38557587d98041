"""`onnxlayer audit`: every model (and version) of directories, manifests and MLflow
registries, isolated and resumable; exit 0 all analysed and compliant, 1 a failed analysis or
rule, 2 bad arguments."""
from __future__ import annotations

import argparse

from ..audit import DEFAULT_MAX_MEMORY_GIB, DEFAULT_STORE, DEFAULT_TIMEOUT, audit
from ..audit.tasks import EXECUTORS
from ..present import audit as present
from ..present import html
from .shared import add_fitting, add_input_shape, input_shapes, say, write_output


def _limit(text: str) -> float | None:
    """A positive number, or `none` for no limit."""
    if text.lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none', got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "audit", help="audit every model of directories, manifests or an MLflow registry (resumable)",
        description="Audit models: a directory (recursive), a model file, a CSV/JSONL manifest (path, name, "
                    "version, input_shapes), models:/NAME, models:/NAME/VERSION, models:/NAME@ALIAS or "
                    "mlflow-registry: (every registered model).")
    p.add_argument("sources", nargs="+", metavar="SOURCE")
    p.add_argument("--store", default=DEFAULT_STORE, metavar="FILE",
                   help=f"SQLite store of results, reused by later runs (default {DEFAULT_STORE})")
    p.add_argument("--policy", metavar="POLICY.toml", help="check every entry against this policy (as onnxlayer check)")
    p.add_argument("--jobs", type=int, default=None, metavar="N", help="worker processes (default: one per CPU)")
    p.add_argument("--timeout", type=_limit, default=DEFAULT_TIMEOUT, metavar="S",
                   help=f"seconds per model, or none (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--max-memory", type=_limit, default=DEFAULT_MAX_MEMORY_GIB, metavar="GB",
                   help=f"address space per analysis in GiB, or none (default {DEFAULT_MAX_MEMORY_GIB:g})")
    p.add_argument("--executor", choices=EXECUTORS, default="local", help="where analyses run (default local)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://host:8786 (default: a local cluster)")
    p.add_argument("--registry-uri", metavar="URI", help="MLflow tracking/registry URI (default $MLFLOW_TRACKING_URI)")
    p.add_argument("--write-back", action="store_true", help="tag each MLflow model version with its numbers")
    add_input_shape(p)
    add_fitting(p)
    p.add_argument("--format", choices=present.FORMATS, default="table")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    p.add_argument("--report", metavar="FILE.html", help="also write a self-contained HTML report to FILE")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    result = audit(args.sources, store=args.store, policy=args.policy, jobs=args.jobs, timeout=args.timeout,
                   max_memory=args.max_memory, executor=args.executor, scheduler=args.scheduler,
                   registry_uri=args.registry_uri, write_back=args.write_back, input_shapes=input_shapes(args),
                   tolerance=args.tolerance, domain=args.domain, progress=not args.quiet)
    write_output(present.render(result, args.format), args.output)
    if args.report:
        write_output(html.render_audit(result), args.report)
    say(f"onnxlayer audit: {result.counts.line()}")
    return result.exit_code
