"""Measurement probes and model-file tools for the people who train and tune the models.

Not part of the runtime: the Lambda images and the layer do not install this package, nor `slmesh.training` and
`slmesh.bench` (pyproject.toml, `[tool.slmesh.runtime]`).
"""
