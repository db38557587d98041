"""Architecture zoo built in pure ONNX (installed as onnxlayer.models)."""
