"""Sentiment function (container image with models/sentiment): direct invokes and SQS batches."""

from slmesh.cloud.skill_worker import make_skill_handler

handler = make_skill_handler("sentiment")
