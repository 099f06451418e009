"""slmesh: a mesh of small, specialised ONNX language models."""

__version__ = "0.1.0"
