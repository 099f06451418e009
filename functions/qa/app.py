"""Extractive QA function (container image with models/qa): direct invokes and SQS batches."""

from slmesh.cloud.skill_worker import make_skill_handler

handler = make_skill_handler("qa")
