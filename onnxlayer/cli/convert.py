"""`onnxlayer convert`: a Keras/TensorFlow/PyTorch model file to ONNX."""
from __future__ import annotations

import argparse

from ..errors import SettingsError
from .shared import EXIT_OK, add_framework, framework_options, save_model


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("convert", help="convert a Keras/TensorFlow/PyTorch model file to ONNX")
    p.add_argument("source", help=".keras, .h5, SavedModel directory, .pt2 (or a trusted pickle)")
    p.add_argument("-o", "--output", metavar="FILE", required=True)
    add_framework(p)
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from ..converters import convert, detect_format

    example, options = framework_options(args)
    if args.opset is not None and detect_format(args.source) == "onnx":  # it would be copied at its own opset
        raise SettingsError(f"--opset sets the opset of a conversion from Keras, TensorFlow or PyTorch; "
                            f"{args.source} is an ONNX file already")
    model = convert(args.source, example, trust_pickle=args.trust_pickle, **options)
    save_model(model, args.output)
    print(f"wrote {args.output} ({len(model.graph.node)} nodes, opset {model.opset_import[0].version})")
    return EXIT_OK
