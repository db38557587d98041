"""Probes that run the model with onnxruntime and measure what the static bounds promise.

`onnxlayer.probe(model, ...)` (the function `run.probe`) counts linear regions along random
lines (with bisection), the local Jacobian rank of each data tensor and activation statistics
per nonlinear leaf, beside the analysis's complexity bound and effective dimensions.
onnxruntime is imported only when a probe runs (extra `pip install "onnxlayer[probe]"`).
"""
