"""Which model folder each container-image function carries: the one table its build context and build read.

infra/local/stage.py copies `models/<folder>` into the function's context and template.yaml passes the same folder
as the Dockerfile's MODEL build argument (tests/integration/test_cloud_template.py checks it against this table).
"""

from __future__ import annotations

from slmesh.embedding import EMBED_MODEL
from slmesh.skills.registry import registry

ROUTER_MODEL = "router"


def image_models() -> dict[str, str]:
    """functions/<name> -> the models/ folder its image copies: the router's, the embedder for retrieval, and each
    deployed skill's own (`Skill.model`, which need not be named after the skill: summarize reads the embedder)."""
    skills = {spec.name: spec.model for spec in registry.specs() if spec.model is not None}
    return {"router": ROUTER_MODEL, "retrieve": EMBED_MODEL, **skills}
