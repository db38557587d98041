"""`onnxlayer probe`: run the model and measure what the static bounds promise."""
from __future__ import annotations

import argparse

from ..api import probe
from ..present import probe as present
from .shared import (EXIT_OK, add_fitting, add_input_shape, add_zoo, input_shapes, model_source, require_one_model,
                     write_output)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "probe",
        help="run the model (onnxruntime) and measure regions along lines, local ranks and activation statistics",
        description="Measure on the running model what the static bounds promise: linear regions crossed by random "
                    "lines (with bisection), the Jacobian rank of each data tensor, and activation statistics.",
    )
    p.add_argument("model", nargs="?", help="path to an ONNX model")
    add_zoo(p, "probe a built-in zoo model (with random weights) instead of a file")
    p.add_argument("--provider", choices=("auto", "cpu", "cuda"), default="auto",
                   help="onnxruntime execution provider (auto: CUDA when onnxruntime-gpu offers it, else CPU)")
    p.add_argument("--lines", type=int, default=4, metavar="N", help="random lines (default 4)")
    p.add_argument("--points", type=int, default=256, metavar="M", help="evenly spaced points per line before bisection (default 256)")
    p.add_argument("--span", type=float, default=None, metavar="T", help="lines run over t ∈ [−T, T] (default σ·√D0)")
    p.add_argument("--origin", choices=("gaussian", "zeros"), default="gaussian",
                   help="line origins: Gaussian with σ = --input-scale (or the --inputs samples), or zeros")
    p.add_argument("--directions", type=int, default=None, metavar="K",
                   help="random directions for the local rank (default min(D0, 64), 16 for models over 1e8 MACs; 0 skips)")
    p.add_argument("--rank-points", type=int, default=1, metavar="R", help="points where the local rank is measured (default 1)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of every random draw (default 0)")
    p.add_argument("--input-scale", type=float, default=1.0, metavar="σ", help="standard deviation of random inputs (default 1)")
    p.add_argument("--inputs", metavar="samples.npz", help="user samples (keys = input names, leading sample axis) for the "
                   "activation statistics, line origins and rank points")
    p.add_argument("--random-weights", nargs="?", const="all", choices=("missing", "all"), default=None,
                   help="seeded He-style weights: 'all' (the default when given) replaces every learned weight, "
                        "'missing' only fills initializers without data (graph-only files)")
    p.add_argument("--max-memory", type=float, default=2.0, metavar="GB", help="memory budget for a batch (default 2 GB)")
    p.add_argument("--refine", type=int, default=None, metavar="EVALS",
                   help="bisection evaluations allowed per line (default: about 2^32 MACs' worth, 8 to 64·M)")
    add_input_shape(p)
    add_fitting(p)
    p.add_argument("--format", choices=present.FORMATS, default="table")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it shows only on a terminal anyway)")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Probe the model named by `args` and print (or write) the report."""
    require_one_model(args)
    # zoo models are built with seeded random weights (the builder's seed 0) unless --random-weights replaces them
    source, label, shapes = model_source(args, input_shapes(args), weights=args.random_weights is None)
    if label and args.random_weights is not None:
        label += " (graph only)"
    result = probe(
        source, shapes, path=label,
        provider=args.provider, lines=args.lines, points=args.points, span=args.span, origin=args.origin,
        directions=args.directions, rank_points=args.rank_points, seed=args.seed, input_scale=args.input_scale,
        inputs=args.inputs, random_weights=args.random_weights, max_memory=args.max_memory, refine=args.refine,
        tolerance=args.tolerance, domain=args.domain, progress=False if args.no_progress else None,
    )
    write_output(present.render(result, args.format), args.output)
    return EXIT_OK
