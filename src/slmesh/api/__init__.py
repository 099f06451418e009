"""The HTTP contract shared by `slmesh serve` and the cloud API."""
