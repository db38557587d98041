"""Probes that run the model with onnxruntime (issue: probes)."""
