"""Retrieve function (container image with models/embed): gives a routed plan's questions without a context the
knowledge base's passages; the index is downloaded from S3 once per process."""

from slmesh.cloud.retrieval import make_retrieve_handler

handler = make_retrieve_handler()
