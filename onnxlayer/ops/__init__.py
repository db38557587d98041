"""The operator registry's entries, one module per op family; importing this package registers every entry."""
from . import activations, arith, containers, contrib, conv, discrete, fused, loss, ml, normalization, quantized, recurrent, reduce, sampling, shape, signal, training  # noqa: F401
