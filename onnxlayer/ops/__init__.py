"""The operator registry's entries, one module per op family; importing this package registers every entry."""
from . import activations, arith, conv, fused, normalization, recurrent, reduce, shape  # noqa: F401
