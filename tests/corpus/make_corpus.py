"""Regenerate the bad-input corpus: `python tests/corpus/make_corpus.py`.

Each file is small (< 20 KB) and deterministic, so the generated files are committed
next to this script. `tests/test_bad_input.py` lists what each one must produce.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/builders.py

from builders import cnn, mlp, model, value, weight  # noqa: E402

#: A dimension far beyond any real tensor: sizes must stay exact Python ints.
HUGE = 2**62
#: Odd-sized dims whose products fill int64 but not a float's 53-bit mantissa.
LARGE = 2**61 - 1


def node(op, ins, outs, **kw):
    return helper.make_node(op, ins, outs, name=f"/{outs[0]}/{op}", **kw)


def dangling() -> onnx.ModelProto:
    """Relu reads `ghost`, which no node, input or initializer provides."""
    return model([node("Relu", ["x"], ["a"]), node("Add", ["a", "ghost"], ["y"])],
                 [value("x", 1, 4)], [value("y", 1, 4)])


def cycle() -> onnx.ModelProto:
    """a = Relu(x + b), b = Relu(a): two nodes feeding each other."""
    return model([node("Add", ["x", "b"], ["s"]), node("Relu", ["s"], ["a"]), node("Tanh", ["a"], ["b"])],
                 [value("x", 1, 4)], [value("a", 1, 4)])


def duplicate_producer() -> onnx.ModelProto:
    """Two nodes both write tensor `h`."""
    return model([node("Relu", ["x"], ["h"]), node("Sigmoid", ["x"], ["h"]), node("Tanh", ["h"], ["y"])],
                 [value("x", 1, 4)], [value("y", 1, 4)])


def orphan_output() -> onnx.ModelProto:
    """Graph output `nowhere` is produced by no node."""
    return model([node("Relu", ["x"], ["y"])], [value("x", 1, 4)], [value("y", 1, 4), value("nowhere", 1, 4)])


def symbolic_dim() -> onnx.ModelProto:
    """Input `x` is [batch, features]: the batch dim defaults to 1, `features` must be given."""
    return model([node("Relu", ["x"], ["y"])], [value("x", "batch", "features")], [value("y", "batch", "features")])


def huge_dims() -> onnx.ModelProto:
    """Dims of 2**62 twice: 2**124 elements, more than ONNX's int64 sizes can count."""
    nodes = [node("Relu", ["x"], ["r"]), node("Softmax", ["r"], ["s"], axis=-1),
             node("ReduceMax", ["s"], ["y"], keepdims=0)]
    return model(nodes, [value("x", 1, HUGE, HUGE)], [value("y", 1, HUGE)], opset=17)


def large_dims() -> onnx.ModelProto:
    """3 × (2**61 − 1) elements: within int64, beyond a float's exact integers."""
    nodes = [node("Relu", ["x"], ["r"]), node("Softmax", ["r"], ["s"], axis=-1),
             node("ReduceMax", ["s"], ["y"], keepdims=0)]
    return model(nodes, [value("x", 1, 3, LARGE)], [value("y", 1, 3)], opset=17)


def huge_conv() -> onnx.ModelProto:
    """A Conv with a (2**62 − 1)-wide input: rank caps and MACs must stay exact."""
    nodes = [node("Conv", ["x", "w"], ["c"], kernel_shape=[3]), node("Relu", ["c"], ["y"])]
    return model(nodes, [value("x", 1, 2, HUGE - 1)], [value("y", 1, 2, HUGE - 3)], [weight("w", 2, 2, 3)])


def zero_dim() -> onnx.ModelProto:
    """An input with a zero-sized dimension: nothing flows, nothing may divide by zero."""
    return model([node("Relu", ["x"], ["h"]), node("Sigmoid", ["h"], ["y"])], [value("x", 1, 0)], [value("y", 1, 0)])


def unknown_op(annotated: bool = True) -> onnx.ModelProto:
    """A custom-domain op between two known ones: an opaque leaf and a warning.

    Exporters annotate a custom op's output shape in value_info (ONNX cannot infer it);
    without that annotation the data tensor has no shape and analysis must stop.
    """
    nodes = [node("Relu", ["x"], ["a"]), helper.make_node("FrobnicateWarp", ["a"], ["b"], name="/warp", domain="com.example"),
             node("Sigmoid", ["b"], ["y"])]
    m = model(nodes, [value("x", 1, 4)], [value("y", 1, 4)])
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    if annotated:
        m.graph.value_info.append(value("b", 1, 4))
    return m


def external_missing() -> onnx.ModelProto:
    """An MLP whose weights point to `missing_weights.bin`, which does not exist."""
    m = mlp()
    for init in m.graph.initializer:
        name, dims, dtype = init.name, list(init.dims), init.data_type
        init.Clear()
        init.name, init.data_type = name, dtype
        init.dims.extend(dims)
        init.data_location = TensorProto.EXTERNAL
        for key, val in (("location", "missing_weights.bin"), ("offset", "0"), ("length", str(4 * int(np.prod(dims))))):
            entry = init.external_data.add()
            entry.key, entry.value = key, val
    return m


def tensor_proto() -> bytes:
    """A serialized TensorProto: valid protobuf, but not a model."""
    return numpy_helper.from_array(np.arange(64, dtype=np.float32).reshape(8, 8), "t").SerializeToString()


def graph_proto() -> bytes:
    """A serialized GraphProto (the graph without the ModelProto around it)."""
    return cnn().graph.SerializeToString()


def no_graph() -> bytes:
    """A ModelProto with an IR version and opset but no graph."""
    m = onnx.ModelProto(ir_version=8, producer_name="corpus")
    m.opset_import.append(helper.make_opsetid("", 17))
    return m.SerializeToString()


def files() -> dict[str, bytes]:
    valid = cnn().SerializeToString()
    rng = np.random.default_rng(20240607)
    return {
        "empty.onnx": b"",
        "random_bytes.onnx": rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "truncated.onnx": valid[: len(valid) // 2],
        "tensor_proto.onnx": tensor_proto(),
        "graph_proto.onnx": graph_proto(),
        "no_graph.onnx": no_graph(),
        "dangling.onnx": dangling().SerializeToString(),
        "cycle.onnx": cycle().SerializeToString(),
        "duplicate_producer.onnx": duplicate_producer().SerializeToString(),
        "orphan_output.onnx": orphan_output().SerializeToString(),
        "symbolic_dim.onnx": symbolic_dim().SerializeToString(),
        "huge_dims.onnx": huge_dims().SerializeToString(),
        "large_dims.onnx": large_dims().SerializeToString(),
        "huge_conv.onnx": huge_conv().SerializeToString(),
        "zero_dim.onnx": zero_dim().SerializeToString(),
        "unknown_op.onnx": unknown_op().SerializeToString(),
        "unknown_op_no_shape.onnx": unknown_op(annotated=False).SerializeToString(),
        "external_missing.onnx": external_missing().SerializeToString(),
        "valid_cnn.txt": valid,  # a valid model with an unusual extension
        "a_directory.onnx/README": b"A directory named like a model: the CLI must refuse it.\n",
    }


def main() -> None:
    for name, data in files().items():
        path = HERE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        assert len(data) < 20_000, name
        path.write_bytes(data)
        print(f"{name:28} {len(data):6} bytes")


if __name__ == "__main__":
    main()
