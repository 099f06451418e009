"""The inference path never imports torch, transformers or datasets."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

PROBE = """
import sys
from slmesh.config import settings_from_env
from slmesh.pipeline import Pipeline
from slmesh.schemas import AnalyzeRequest
from slmesh.api.server import AnalyzeServer
from slmesh.demo import REFERENCE_PROMPTS, TRAIN_SERVICE_CONTEXT
pipeline = Pipeline.from_settings(settings_from_env())
pipeline.analyze(AnalyzeRequest(prompt=REFERENCE_PROMPTS[0], context=TRAIN_SERVICE_CONTEXT))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "transformers", "datasets"})
print(",".join(heavy))
"""


def test_answering_a_prompt_imports_no_training_library() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
