"""System 3: slmesh embedded, the ONNX int8 pipeline exactly as `slmesh ask` and `slmesh serve` run it."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from slmesh.bench.stats import ms_since
from slmesh.config import MODEL_SKILLS
from slmesh.pipeline import Pipeline
from slmesh.runtime import ModelStore
from slmesh.schemas import AnalyzeRequest
from slmesh.skills.registry import SkillSet


class EmbeddedStack:
    name = "slmesh embedded"

    def __init__(
        self, models_dir: Path, pipeline_threads: int, qa_threads: int, workers: int, batch_threads: int
    ) -> None:
        self.notes = [
            f"ONNX Runtime int8, {pipeline_threads} intra-op thread(s) per session ({qa_threads} for QA), "
            f"skills fan out on a pool of {workers} threads",
            f"batch throughput uses one session with {batch_threads} intra-op thread(s)",
        ]
        self._pipeline = Pipeline(ModelStore(models_dir, pipeline_threads, {"qa": qa_threads}), workers)
        self.load_ms: dict[str, float] = {}
        for skill in MODEL_SKILLS:
            started = time.perf_counter()
            self._pipeline.skills.skill(skill)
            self.load_ms[skill] = round(ms_since(started), 1)
        self._models_dir = models_dir
        self._batch_threads = batch_threads
        self._batch_skills: SkillSet | None = None
        self.last_answer = ""
        self.last_skills: list[str] = []

    def analyze(self, prompt: str, context: str) -> dict[str, float]:
        response = self._pipeline.analyze(AnalyzeRequest(prompt=prompt, context=context))
        self.last_answer, self.last_skills = response.answer, list(response.skills)
        return {k: v for k, v in response.timings_ms.items() if k != "total"}

    def _batch(self) -> SkillSet:
        # Built on first use, so the peak RSS read after the latency runs covers the serving pipeline alone.
        if self._batch_skills is None:
            self._batch_skills = SkillSet(ModelStore(self._models_dir, self._batch_threads))
        return self._batch_skills

    def sentiment(self, texts: Sequence[str]) -> object:
        return self._batch().skill("sentiment").predict(texts)

    def qa(self, pairs: Sequence[tuple[str, str]]) -> object:
        return self._batch().skill("qa").answer_batch(pairs)

    def close(self) -> None:
        self._pipeline.close()
