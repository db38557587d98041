"""Framework front-ends (installed as onnxlayer.converters)."""
