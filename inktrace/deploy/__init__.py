"""Deploying a trained model outside PyTorch: ``export.py`` writes an ONNX file (dynamic height
and width, one named output per map, the model card in its metadata); ``runtime.py`` runs one
through onnxruntime behind the Predictor's interface (``inktrace trace --checkpoint model.onnx``).

Both need the ``onnx`` extra (``pip install "inktrace[onnx]"``: onnx and onnxruntime), imported
only when a file is exported or read, so the rest of InkTrace works without it.
"""
