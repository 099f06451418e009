"""Accuracy measures behind `slmesh eval`."""
