"""System 3: slmesh embedded, the ONNX int8 pipeline exactly as `slmesh ask` and `slmesh serve` run it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from slmesh.bench.stats import ms_since
from slmesh.pipeline import Pipeline
from slmesh.runtime import ModelStore
from slmesh.schemas import AnalyzeRequest
from slmesh.skills.qa import QASkill
from slmesh.skills.registry import registry
from slmesh.skills.sentiment import SentimentSkill


class EmbeddedStack:
    name = "slmesh embedded"

    def __init__(self, models_dir: Path, threads: int, workers: int) -> None:
        store = ModelStore(models_dir, threads)
        self.notes = [
            f"ONNX Runtime int8, one intra-op pool of {store.threads} thread(s) shared by all sessions, "
            f"skills fan out on a pool of {workers} threads; batch runs use the same sessions",
        ]
        self._pipeline = Pipeline(store, workers)
        self.load_ms: dict[str, float] = {}
        started = time.perf_counter()
        self._pipeline.skills.router  # noqa: B018
        self.load_ms["router"] = round(ms_since(started), 1)
        for spec in registry.specs():
            started = time.perf_counter()
            self._pipeline.skills.named(spec.name)
            self.load_ms[spec.name] = round(ms_since(started), 1)
        self.last_answer = ""
        self.last_skills: list[str] = []

    def analyze(self, prompt: str, context: str) -> dict[str, float]:
        response = self._pipeline.analyze(AnalyzeRequest(prompt=prompt, context=context))
        self.last_answer, self.last_skills = response.answer, list(response.skills)
        return {k: v for k, v in response.timings_ms.items() if k != "total"}

    def sentiment(self, texts: Sequence[str]) -> object:
        return self._pipeline.skills.skill(SentimentSkill).predict(texts)

    def qa(self, pairs: Sequence[tuple[str, str]]) -> object:
        return self._pipeline.skills.skill(QASkill).answer_batch(pairs)

    def close(self) -> None:
        self._pipeline.close()
