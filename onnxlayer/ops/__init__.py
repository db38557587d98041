"""The operator registry's entries, one module per op family; importing this package registers every entry."""
from . import activations, arith, containers, conv, discrete, fused, loss, normalization, recurrent, reduce, sampling, shape, signal  # noqa: F401
