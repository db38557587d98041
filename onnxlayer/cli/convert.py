"""`onnxlayer convert`: a Keras/TensorFlow/PyTorch model file to ONNX."""
from __future__ import annotations

import argparse

from .shared import EXIT_OK, add_framework, framework_options, save_model


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("convert", help="convert a Keras/TensorFlow/PyTorch model file to ONNX")
    p.add_argument("source", help=".keras, .h5, SavedModel directory, .pt2 (or a trusted pickle)")
    p.add_argument("-o", "--output", metavar="FILE", required=True)
    add_framework(p)
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ..converters import convert

    example, options = framework_options(args)
    model = convert(args.source, example, trust_pickle=args.trust_pickle, **options)
    save_model(model, args.output)
    print(f"wrote {args.output} ({len(model.graph.node)} nodes, opset {model.opset_import[0].version})")
    return EXIT_OK
