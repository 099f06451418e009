"""The embedded pipeline: plan, run the chosen skills in parallel on a thread pool, complete."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from slmesh.config import Settings
from slmesh.orchestration import complete, plan
from slmesh.runtime import ModelSource, ModelStore
from slmesh.schemas import AnalyzeRequest, AnalyzeResponse
from slmesh.skills.registry import Router, SkillSet


class Pipeline:
    def __init__(self, models: ModelSource, workers: int = 4, router: Router | None = None) -> None:
        self.skills = SkillSet(models, router)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slmesh-skill")

    @classmethod
    def from_settings(cls, settings: Settings) -> Pipeline:
        return cls(ModelStore(settings.models_dir, settings.threads), settings.skill_workers)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def analyze(self, request: AnalyzeRequest) -> AnalyzeResponse:
        started = time.perf_counter()
        planned = plan(request, self.skills.router)
        futures = {skill: self._pool.submit(self.skills.run, skill, [task]) for skill, task in planned.tasks.items()}
        outcomes = {skill: future.result()[0] for skill, future in futures.items()}
        return complete(planned.request_id, planned.decision, planned.router_ms, outcomes, started)
