"""The registry's op families; importing this package registers every rule."""
from . import activations, arith, conv, normalization, recurrent, reduce, shape  # noqa: F401
