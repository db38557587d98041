"""The operator registry's entries, one module per op family; importing this package registers every entry."""
from . import activations, arith, containers, conv, discrete, fused, loss, ml, normalization, recurrent, reduce, sampling, shape, signal, training  # noqa: F401
