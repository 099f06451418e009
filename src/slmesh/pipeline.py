"""The embedded pipeline: route, run the chosen skills in parallel, aggregate."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from slmesh.aggregator import aggregate
from slmesh.config import Settings
from slmesh.runtime import ModelSource, ModelStore
from slmesh.schemas import AnalyzeRequest, AnalyzeResponse, SkillOutcome, SkillTask
from slmesh.skills.registry import SkillSet


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000.0, 3)


class Pipeline:
    def __init__(self, models: ModelSource, workers: int = 4) -> None:
        self.skills = SkillSet(models)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slmesh-skill")

    @classmethod
    def from_settings(cls, settings: Settings) -> Pipeline:
        return cls(ModelStore(settings.models_dir, settings.threads), settings.skill_workers)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def analyze(self, request: AnalyzeRequest) -> AnalyzeResponse:
        started = time.perf_counter()
        request_id = request.request_id or str(uuid.uuid4())
        decision = self.skills.router.route(request.prompt)
        timings = {"router": _ms(started)}
        tasks = [
            SkillTask(request_id=request_id, skill=skill, subject=decision.subject, context=request.context)
            for skill in decision.skills
        ]
        futures = {t.skill: self._pool.submit(self.skills.run, t.skill, [t]) for t in tasks}
        outcomes: dict[str, SkillOutcome] = {skill: f.result()[0] for skill, f in futures.items()}
        timings.update({skill: o.latency_ms for skill, o in outcomes.items()})
        aggregate_started = time.perf_counter()
        response = aggregate(request_id, decision, outcomes, timings)
        response.timings_ms["aggregate"] = _ms(aggregate_started)
        response.timings_ms["total"] = _ms(started)
        return response
