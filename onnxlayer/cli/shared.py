"""What the subcommands share: the settings and framework options, the `--input-shape` text,
MODEL-or-`--zoo` sources, and writing reports and models to files."""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from ..budget import GIB, Budget
from ..errors import SettingsError
from ..fitcache import CACHE_DIR_ENV, NO_CACHE_ENV

if TYPE_CHECKING:  # pragma: no cover
    import onnx

EXIT_OK, EXIT_STRICT, EXIT_ERROR = 0, 1, 2


def say(text: str) -> None:
    """Print `text` on stderr as one line: control characters and line breaks escaped (a model's
    names may hold any, and one of them would break a message in two)."""
    print("".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text), file=sys.stderr)


def add_zoo(p: argparse.ArgumentParser, help: str) -> None:
    """`--zoo NAME`: one built-in model instead of a file; given twice, an error (not the last one silently)."""
    p.add_argument("--zoo", metavar="NAME", action=_Once, help=help)


def add_zoo_models(p: argparse.ArgumentParser, help: str) -> None:
    """`--zoo all|NAME,NAME`, repeatable: built-in models added to the files."""
    p.add_argument("--zoo", metavar="all|NAME,NAME", action="append", help=help)


class _Once(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option_string} given twice ({getattr(namespace, self.dest)!r} and {values!r}): give one model")
        setattr(namespace, self.dest, values)


def add_input_shape(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-shape", action="append", default=[], metavar="NAME=1x3x224x224",
                   help="fix a graph input's shape (repeatable); batch dims default to 1")


def add_fitting(p: argparse.ArgumentParser) -> None:
    """--tolerance, --domain and --no-cache."""
    p.add_argument("--tolerance", type=float, default=0.01, help="PWL fitting tolerance ε (default 0.01)")
    p.add_argument("--domain", type=float, default=8.0, help="PWL fitting domain bound B (default 8)")
    p.add_argument("--no-cache", action="store_true",
                   help=f"fit every piece count afresh: neither read nor write the fit cache ({NO_CACHE_ENV}=1 does the same; "
                        f"{CACHE_DIR_ENV} moves it, default ~/.cache/onnxlayer)")


def add_settings(p: argparse.ArgumentParser) -> None:
    """--input-shape, the fitting settings, --strict and --no-fuse."""
    add_input_shape(p)
    add_fitting(p)
    p.add_argument("--strict", action="store_true", help="opaque leaves (no registry rule) are an error (exit 1)")
    p.add_argument("--no-fuse", action="store_true", help="skip the SPEC §4 fusions (for debugging)")


def add_budget(p: argparse.ArgumentParser) -> None:
    """--max-nodes, --max-folded-elements, --max-memory: the analysis budget (`onnxlayer.budget`)."""
    g = p.add_argument_group("budget (checked before the work; a model past it is an error)")
    g.add_argument("--max-nodes", type=int, default=Budget.max_nodes, metavar="N",
                   help=f"graph nodes after unrolling control flow and inlining functions (default {Budget.max_nodes:,})")
    g.add_argument("--max-folded-elements", type=int, default=Budget.max_folded_elements, metavar="N",
                   help=f"elements constant folding may compute in all (default {Budget.max_folded_elements:,})")
    g.add_argument("--max-memory", type=float, default=Budget.max_memory / GIB, metavar="GB",
                   help=f"memory the model and its graph may take, estimated before reading and unrolling (default {Budget.max_memory / GIB:g})")


def budget(args: argparse.Namespace) -> Budget:
    """The budget the command line gives."""
    return Budget(args.max_nodes, args.max_folded_elements, int(args.max_memory * GIB))


def _dims(text: str) -> tuple[int, ...]:
    """`1x3x224x224` → (1, 3, 224, 224); ValueError if a dim is not an integer."""
    return tuple(int(d) for d in text.lower().split("x"))


def parse_input_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """Parse `NAME=1x3x224x224` (the CLI's --input-shape)."""
    name, sep, dims = text.rpartition("=")
    if not sep or not name or not dims:
        raise SettingsError(f"--input-shape {text!r}: expected NAME=D1xD2x..., e.g. input=1x3x224x224")
    try:
        shape = _dims(dims)
    except ValueError:
        raise SettingsError(f"--input-shape {text!r}: dims must be integers separated by 'x'") from None
    return name, shape


def input_shapes(args: argparse.Namespace) -> dict[str, tuple[int, ...]]:
    """Every --input-shape of the command line, by input name (the last one wins)."""
    return dict(parse_input_shape(s) for s in args.input_shape)


def require_one_model(args: argparse.Namespace) -> None:
    if bool(args.model) == bool(args.zoo):
        raise SettingsError("give exactly one of MODEL or --zoo NAME")


def model_source(args: argparse.Namespace, shapes: dict[str, tuple[int, ...]], weights: bool = False
                 ) -> tuple[Any, str | None, dict[str, tuple[int, ...]]]:
    """MODEL or --zoo NAME (exactly one): the source, its label ("zoo:NAME", None for a file) and the
    input shapes (a zoo model's defaults under the user's)."""
    require_one_model(args)
    if not args.zoo:
        return args.model, None, shapes
    from ..models_access import zoo_input_shapes, zoo_model

    return zoo_model(args.zoo, weights=weights), f"zoo:{args.zoo}", zoo_input_shapes(args.zoo, shapes)


def add_framework(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("framework models (.keras, .h5, SavedModel, .pt2)")
    g.add_argument("--exporter", choices=("auto", "dynamo", "legacy"), default=None,
                   help="PyTorch exporter (default: dynamo, legacy as fallback)")
    g.add_argument("--opset", type=int, default=None, help="ONNX opset for conversion (default 18)")
    g.add_argument("--trust-pickle", action="store_true",
                   help="load a .pt/.pth pickle (runs its code: only for files you trust)")
    g.add_argument("--example-shape", action="append", default=[], metavar="1x3x224x224",
                   help="example input shape for a trusted pickled nn.Module (repeatable, in order)")


def framework_options(args: argparse.Namespace) -> tuple[object, dict]:
    """(example inputs, converter options) from the CLI flags."""
    options: dict = {}
    if args.exporter:
        options["exporter"] = args.exporter
    if args.opset is not None:
        if args.opset < 1:
            raise SettingsError(f"--opset must be positive, got {args.opset}")
        options["opset"] = args.opset
    example = None
    if args.example_shape:
        from ..converters import require

        torch = require("torch")
        shapes = []
        for text in args.example_shape:
            try:
                shapes.append(_dims(text))
            except ValueError:
                raise SettingsError(f"--example-shape {text!r}: expected dims like 1x3x224x224") from None
        tensors = tuple(torch.randn(*shape) for shape in shapes)
        example = tensors[0] if len(tensors) == 1 else tensors
    return example, options


def write_output(text: str, path: str | None) -> None:
    """`text` to the file `path`, or to stdout without one."""
    if path:
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            raise SettingsError(f"cannot write {path}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)


def save_model(model: onnx.ModelProto, path: str) -> None:
    import onnx

    try:
        onnx.save(model, path)
    except (OSError, ValueError) as exc:
        raise SettingsError(f"cannot write {path}: {exc}") from None
