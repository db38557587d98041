"""A small ONNX graph builder with torch-exporter-style names.

Node names follow torch.onnx's scope convention, e.g. ``/layer1/layer1.0/conv1/Conv``
(a numeric child keeps its parent's part as prefix, as the exporter does), and
initializers are named by the module path, e.g. ``layer1.0.conv1.weight``, so that
grouping by ``/`` recovers the module tree.

With ``weights=False`` no array is ever materialised: each float initializer keeps
its dims and data type and points at a non-existent external file
``<name>.graph-only.bin`` (offset 0, exact byte length), which keeps the model
well-formed and the build fast even for 100M-parameter networks.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Union

import numpy as np
import onnx
from onnx import TensorProto, helper

DEFAULT_OPSET = 17  # LayerNormalization exists from 17
IR_VERSION = 8  # the IR version that goes with opset 17; accepted by older runtimes

Dim = Union[int, str]
IntOrPair = Union[int, Sequence[int]]


def _pair(value: IntOrPair) -> list[int]:
    return [value, value] if isinstance(value, int) else list(value)


class GraphBuilder:
    """Accumulates nodes and initializers; every op method returns its output name."""

    def __init__(self, graph_name: str, weights: bool = True, seed: int = 0,
                 opset: int = DEFAULT_OPSET) -> None:
        self.graph_name = graph_name
        self.weights = weights
        self.opset = opset
        self._rng = np.random.default_rng(seed)
        self._nodes: list[onnx.NodeProto] = []
        self._initializers: list[TensorProto] = []
        self._inputs: list[onnx.ValueInfoProto] = []
        self._outputs: list[onnx.ValueInfoProto] = []
        # Each scope level: (node-name part, qualified module path).
        self._scope: list[tuple[str, str]] = []
        self._node_names: set[str] = set()
        self._producer: dict[str, onnx.NodeProto] = {}

    # ------------------------------------------------------------------ scopes
    @contextmanager
    def scope(self, name: Union[str, int]) -> Iterator[None]:
        """Enter child module ``name`` (attribute name or Sequential index)."""
        name = str(name)
        parent_part, parent_path = self._scope[-1] if self._scope else ("", "")
        path = f"{parent_path}.{name}" if parent_path else name
        # torch.onnx names a numeric child "features.0", not "0".
        part = f"{parent_part}.{name}" if name.isdigit() and parent_part else name
        self._scope.append((part, path))
        try:
            yield
        finally:
            self._scope.pop()

    @contextmanager
    def maybe_scope(self, name: Union[str, int, None]) -> Iterator[None]:
        if name is None:
            yield
        else:
            with self.scope(name):
                yield

    @property
    def module_path(self) -> str:
        return self._scope[-1][1] if self._scope else ""

    # ------------------------------------------------------------ primitives
    def node(self, op_type: str, inputs: Sequence[str], n_outputs: int = 1,
             **attributes: object) -> list[str]:
        """Add one node named after the current scope; returns its output names."""
        base = "/" + "/".join(part for part, _ in self._scope)
        base = f"{base}/{op_type}" if self._scope else f"/{op_type}"
        name, k = base, 0
        while name in self._node_names:
            k += 1
            name = f"{base}_{k}"
        self._node_names.add(name)
        outputs = [f"{name}_output_{i}" for i in range(n_outputs)]
        node = helper.make_node(op_type, list(inputs), outputs, name=name, **attributes)
        self._nodes.append(node)
        for out in outputs:
            self._producer[out] = node
        return outputs

    def op(self, op_type: str, *inputs: str, **attributes: object) -> str:
        return self.node(op_type, inputs, 1, **attributes)[0]

    def input(self, name: str, shape: Sequence[Dim],
              elem_type: int = TensorProto.FLOAT) -> str:
        self._inputs.append(helper.make_tensor_value_info(name, elem_type, list(shape)))
        return name

    def output(self, tensor: str, name: str, shape: Sequence[Dim],
               elem_type: int = TensorProto.FLOAT) -> str:
        """Declare ``tensor`` a graph output, renaming it to ``name``."""
        node = self._producer.pop(tensor)
        node.output[list(node.output).index(tensor)] = name
        self._producer[name] = node
        for consumer in self._nodes:  # an output may also feed later nodes
            for i, value in enumerate(consumer.input):
                if value == tensor:
                    consumer.input[i] = name
        self._outputs.append(helper.make_tensor_value_info(name, elem_type, list(shape)))
        return name

    def param(self, suffix: str, shape: Sequence[int], init: str = "he",
              fan_in: int | None = None, std: float = 0.02, value: float = 0.0) -> str:
        """A float32 initializer named ``<module path>.<suffix>``.

        init: "he" (normal, std sqrt(2/fan_in)), "normal" (given std),
        "const" (filled with ``value``).
        """
        name = f"{self.module_path}.{suffix}" if self.module_path else suffix
        shape = [int(d) for d in shape]
        if not self.weights:
            tensor = TensorProto()
            tensor.name = name
            tensor.data_type = TensorProto.FLOAT
            tensor.dims.extend(shape)
            tensor.data_location = TensorProto.EXTERNAL
            for key, val in (("location", f"{name}.graph-only.bin"), ("offset", "0"),
                             ("length", str(4 * math.prod(shape)))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, val
        else:
            if init == "const":
                array = np.full(shape, value, dtype=np.float32)
            else:
                scale = math.sqrt(2.0 / fan_in) if init == "he" else std
                array = self._rng.standard_normal(shape, dtype=np.float32)
                array *= np.float32(scale)
            tensor = onnx.numpy_helper.from_array(array, name)
        self._initializers.append(tensor)
        return name

    def const(self, values: Union[Sequence[int], Sequence[float], int, float],
              dtype: type = np.int64) -> str:
        """A small inline Constant node (shapes, axes, scalars)."""
        array = np.asarray(values, dtype=dtype)
        return self.op("Constant", value=onnx.numpy_helper.from_array(array))

    def build(self, doc: str = "") -> onnx.ModelProto:
        graph = helper.make_graph(self._nodes, self.graph_name, self._inputs,
                                  self._outputs, initializer=self._initializers)
        model = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", self.opset)],
            producer_name="onnxlayer.models", ir_version=IR_VERSION)
        model.doc_string = doc
        return model

    # ------------------------------------------------------- layers (params)
    def conv(self, x: str, c_in: int, c_out: int, kernel: IntOrPair, stride: IntOrPair = 1,
             padding: IntOrPair = 0, groups: int = 1, bias: bool = True,
             dilation: int = 1, name: str | None = "conv") -> str:
        kh, kw = _pair(kernel)
        ph, pw = _pair(padding)
        with self.maybe_scope(name):
            weight = self.param("weight", [c_out, c_in // groups, kh, kw],
                                fan_in=c_in // groups * kh * kw)
            inputs = [x, weight]
            if bias:
                inputs.append(self.param("bias", [c_out], init="const"))
            return self.op("Conv", *inputs, kernel_shape=[kh, kw], strides=_pair(stride),
                           pads=[ph, pw, ph, pw], group=groups,
                           dilations=[dilation, dilation])

    def conv_transpose(self, x: str, c_in: int, c_out: int, kernel: int, stride: int,
                       bias: bool = True, name: str | None = "up") -> str:
        with self.maybe_scope(name):
            # torch layout [C_in, C_out, kh, kw]; torch's fan_in reads dim 1.
            weight = self.param("weight", [c_in, c_out, kernel, kernel],
                                fan_in=c_out * kernel * kernel)
            inputs = [x, weight]
            if bias:
                inputs.append(self.param("bias", [c_out], init="const"))
            return self.op("ConvTranspose", *inputs, kernel_shape=[kernel, kernel],
                           strides=[stride, stride], pads=[0, 0, 0, 0])

    def batchnorm(self, x: str, channels: int, eps: float = 1e-5,
                  name: str | None = "bn") -> str:
        with self.maybe_scope(name):
            scale = self.param("weight", [channels], init="const", value=1.0)
            bias = self.param("bias", [channels], init="const")
            mean = self.param("running_mean", [channels], init="const")
            var = self.param("running_var", [channels], init="const", value=1.0)
            return self.op("BatchNormalization", x, scale, bias, mean, var, epsilon=eps)

    def linear(self, x: str, d_in: int, d_out: int, bias: bool = True,
               name: str | None = "fc") -> str:
        """nn.Linear on a 2-D input: Gemm with transB=1, weight [out, in]."""
        with self.maybe_scope(name):
            weight = self.param("weight", [d_out, d_in], fan_in=d_in)
            inputs = [x, weight]
            if bias:
                inputs.append(self.param("bias", [d_out], init="const"))
            return self.op("Gemm", *inputs, alpha=1.0, beta=1.0, transB=1)

    def linear_nd(self, x: str, d_in: int, d_out: int, bias: bool = True,
                  name: str | None = "fc", weight_name: str = "weight") -> str:
        """nn.Linear on an N-D input: MatMul with the transposed weight [in, out], then Add."""
        with self.maybe_scope(name):
            weight = self.param(weight_name, [d_in, d_out], fan_in=d_in)
            y = self.op("MatMul", x, weight)
            if bias:
                bias_name = weight_name.replace("weight", "bias")
                y = self.op("Add", y, self.param(bias_name, [d_out], init="const"))
            return y

    def layernorm(self, x: str, dim: int, eps: float = 1e-5,
                  name: str | None = "norm") -> str:
        with self.maybe_scope(name):
            scale = self.param("weight", [dim], init="const", value=1.0)
            bias = self.param("bias", [dim], init="const")
            return self.op("LayerNormalization", x, scale, bias, axis=-1, epsilon=eps)

    def embedding(self, ids: str, num: int, dim: int, name: str) -> str:
        with self.scope(name):
            table = self.param("weight", [num, dim], init="normal", std=0.02)
            return self.op("Gather", table, ids, axis=0)

    # ------------------------------------------------------ layers (no params)
    def act(self, op_type: str, x: str, name: str | None = None, **attrs: object) -> str:
        with self.maybe_scope(name):
            return self.op(op_type, x, **attrs)

    def relu(self, x: str, name: str | None = None) -> str:
        return self.act("Relu", x, name)

    def relu6(self, x: str, name: str | None = None) -> str:
        """torch's ReLU6 export: Clip with min 0 and max 6 as constant inputs."""
        with self.maybe_scope(name):
            low = self.const(0.0, np.float32)
            high = self.const(6.0, np.float32)
            return self.op("Clip", x, low, high)

    def hardswish(self, x: str, name: str | None = None) -> str:
        return self.act("HardSwish", x, name)

    def hardsigmoid(self, x: str, name: str | None = None) -> str:
        # torch.nn.Hardsigmoid = relu6(x + 3) / 6
        return self.act("HardSigmoid", x, name, alpha=1.0 / 6.0, beta=0.5)

    def silu(self, x: str, name: str | None = None) -> str:
        """torch exports SiLU as x * Sigmoid(x)."""
        with self.maybe_scope(name):
            return self.op("Mul", x, self.op("Sigmoid", x))

    def gelu(self, x: str, name: str | None = None) -> str:
        """Exact (erf) GELU as torch exports it before opset 20: 0.5·x·(1 + erf(x/√2))."""
        with self.maybe_scope(name):
            scaled = self.op("Div", x, self.const(math.sqrt(2.0), np.float32))
            erf = self.op("Erf", scaled)
            shifted = self.op("Add", erf, self.const(1.0, np.float32))
            y = self.op("Mul", x, shifted)
            return self.op("Mul", y, self.const(0.5, np.float32))

    def maxpool(self, x: str, kernel: int, stride: int, padding: int = 0,
                ceil_mode: bool = False, name: str | None = None) -> str:
        return self.act("MaxPool", x, name, kernel_shape=[kernel, kernel],
                        strides=[stride, stride], pads=[padding] * 4,
                        ceil_mode=int(ceil_mode))

    def avgpool(self, x: str, kernel: int, stride: int, padding: int = 0,
                ceil_mode: bool = False, count_include_pad: bool = True,
                name: str | None = None) -> str:
        return self.act("AveragePool", x, name, kernel_shape=[kernel, kernel],
                        strides=[stride, stride], pads=[padding] * 4,
                        ceil_mode=int(ceil_mode), count_include_pad=int(count_include_pad))

    def global_avgpool(self, x: str, name: str | None = None) -> str:
        return self.act("GlobalAveragePool", x, name)

    def flatten(self, x: str, axis: int = 1, name: str | None = None) -> str:
        return self.act("Flatten", x, name, axis=axis)

    def add(self, a: str, b: str) -> str:
        return self.op("Add", a, b)

    def mul(self, a: str, b: str) -> str:
        return self.op("Mul", a, b)

    def matmul(self, a: str, b: str) -> str:
        return self.op("MatMul", a, b)

    def concat(self, xs: Sequence[str], axis: int = 1) -> str:
        return self.op("Concat", *xs, axis=axis)

    def reshape(self, x: str, shape: Sequence[int]) -> str:
        return self.op("Reshape", x, self.const(list(shape)))

    def transpose(self, x: str, perm: Sequence[int]) -> str:
        return self.op("Transpose", x, perm=list(perm))

    def softmax(self, x: str, axis: int = -1) -> str:
        return self.op("Softmax", x, axis=axis)

    def split(self, x: str, sizes: Sequence[int], axis: int = 1) -> list[str]:
        return self.node("Split", [x, self.const(list(sizes))], len(sizes), axis=axis)

    def squeeze(self, x: str, axes: Sequence[int]) -> str:
        return self.op("Squeeze", x, self.const(list(axes)))

    def unsqueeze(self, x: str, axes: Sequence[int]) -> str:
        return self.op("Unsqueeze", x, self.const(list(axes)))

    def gather(self, x: str, index: int, axis: int) -> str:
        """x.select(axis, index): Gather with a scalar index drops the axis."""
        return self.op("Gather", x, self.const(index), axis=axis)

    # ------------------------------------------------------ composite blocks
    def activation(self, kind: str | None, x: str, name: str | None = None) -> str:
        """Apply a named activation (an ONNX op type, or Relu6, SiLU, Gelu, HardSigmoid
        in their torch export forms); None is the identity."""
        if kind is None:
            return x
        special = {"Relu6": self.relu6, "SiLU": self.silu, "Gelu": self.gelu,
                   "HardSigmoid": self.hardsigmoid}
        if kind in special:
            return special[kind](x, name)
        return self.act(kind, x, name)

    def conv_norm_act(self, x: str, c_in: int, c_out: int, kernel: IntOrPair,
                      stride: int = 1, groups: int = 1, act: str | None = "Relu",
                      eps: float = 1e-5, padding: IntOrPair | None = None) -> str:
        """torchvision.ops.Conv2dNormActivation: children 0 (conv, no bias), 1 (BN), 2 (act)."""
        if padding is None:
            padding = [(k - 1) // 2 for k in _pair(kernel)]
        y = self.conv(x, c_in, c_out, kernel, stride, padding, groups, bias=False, name="0")
        y = self.batchnorm(y, c_out, eps, name="1")
        return self.activation(act, y, "2")

    def squeeze_excitation(self, x: str, channels: int, squeeze: int, act: str = "Relu",
                           scale_act: str = "Sigmoid") -> str:
        """torchvision.ops.SqueezeExcitation: avgpool, fc1, act, fc2 (1x1 convs), scale, Mul."""
        s = self.global_avgpool(x, "avgpool")
        s = self.conv(s, channels, squeeze, 1, name="fc1")
        s = self.activation(act, s, "activation")
        s = self.conv(s, squeeze, channels, 1, name="fc2")
        s = self.activation(scale_act, s, "scale_activation")
        return self.mul(s, x)


def make_divisible(value: float, divisor: int, min_value: int | None = None) -> int:
    """torchvision's _make_divisible: round to a multiple of ``divisor``, losing < 10%."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded
