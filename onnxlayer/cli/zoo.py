"""`onnxlayer zoo`: list the built-in architectures, or export one to ONNX."""
from __future__ import annotations

import argparse

from ..errors import SettingsError
from ..models_access import zoo_model, zoo_module
from .shared import EXIT_OK, save_model


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("zoo", help="list or export the built-in architectures")
    p.add_argument("action", nargs="?", choices=("list", "export"), default="list")
    p.add_argument("name", nargs="?")
    p.add_argument("-o", "--output", metavar="FILE")
    p.add_argument("--graph-only", action="store_true", help="export without weights (external data stubs)")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    zoo = zoo_module()
    if args.action == "list":
        for name in zoo.names():  # the name once, as a column
            print(f"{name:<22} {zoo.describe(name).removeprefix(f'{name}: ')}")
        return EXIT_OK
    if not args.name or not args.output:
        raise SettingsError("usage: onnxlayer zoo export NAME -o FILE.onnx")
    save_model(zoo_model(args.name, weights=not args.graph_only), args.output)
    print(f"wrote {args.output}")
    return EXIT_OK
