"""Extractive summarisation function (container image with models/embed, the skill's model): direct invokes and SQS
batches."""

from slmesh.cloud.skill_worker import make_skill_handler

handler = make_skill_handler("summarize")
