"""Aggregator function (zip on the slmesh layer, no model): merges the skills' outcomes into one answer."""

from slmesh.cloud.aggregation import make_aggregator_handler

handler = make_aggregator_handler()
