"""The embedded pipeline: plan, run the chosen skills in parallel on a thread pool, complete.

Large requests (`slmesh.scheduling.is_large`) run their skills on threads of their own, so a long context never
holds a thread a short request waits for, and their model calls let small requests go first.
"""

from __future__ import annotations

import contextvars
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext

from slmesh.config import Settings
from slmesh.orchestration import PassageSource, complete, plan, retrieve
from slmesh.runtime import ModelSource, ModelStore, call_gate, release_memory
from slmesh.scheduling import CallGate, Lanes, RequestBudget, is_large
from slmesh.schemas import AnalyzeRequest, AnalyzeResponse
from slmesh.skills.registry import Router, SkillSet, registry


class Pipeline:
    def __init__(
        self,
        models: ModelSource,
        workers: int = 4,
        router: Router | None = None,
        large_requests: int = 1,
        retriever: PassageSource | None = None,
    ) -> None:
        """`large_requests`: how many large requests may run at once (the server admits no more); `retriever`: where
        a question sent without a context finds passages (None: it gets no answer)."""
        self.skills = SkillSet(models, router)
        self.retriever = retriever
        self.lanes = Lanes()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slmesh-skill")
        self._large_pool = ThreadPoolExecutor(
            max_workers=large_requests * len(registry.specs()), thread_name_prefix="slmesh-large"
        )

    @classmethod
    def from_settings(cls, settings: Settings, large_requests: int = 1) -> Pipeline:
        """The pipeline of `settings`. Its knowledge base is opened here, so a stale or broken index stops `slmesh
        serve` and `slmesh ask` at start (`InvalidIndexError`, a ValueError) instead of failing their questions."""
        from slmesh.kb.retrieval import Retriever

        models = ModelStore(settings.models_dir, settings.threads)
        retriever = (
            Retriever(settings.kb, models, settings.kb_top_k, settings.kb_min_score).open()
            if settings.kb is not None
            else None
        )
        return cls(models, settings.skill_workers, None, large_requests, retriever)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._large_pool.shutdown(wait=True)

    def analyze(self, request: AnalyzeRequest, budget: RequestBudget | None = None) -> AnalyzeResponse:
        """The response; raises `InputTooLarge` (before any skill runs) and `StopRequest` (before routing ends).

        A skill stopped by the budget later reports it as its error, beside the skills that finished.
        """
        large = is_large(request)
        token = call_gate.set(CallGate(budget, self.lanes, large))
        served: AbstractContextManager[None] = nullcontext() if large else self.lanes.small()
        try:
            with served:
                return self._analyze(request, self._large_pool if large else self._pool)
        finally:
            call_gate.reset(token)
            if large:
                release_memory()

    def _analyze(self, request: AnalyzeRequest, pool: ThreadPoolExecutor) -> AnalyzeResponse:
        started = time.perf_counter()
        planned, retrieve_ms = retrieve(plan(request, self.skills.router), self.retriever)
        for skill, task in planned.tasks.items():
            self.skills.check(skill, [task])
        # Each skill's thread gets a copy of this request's context, which holds its call gate.
        futures = {
            skill: pool.submit(contextvars.copy_context().run, self.skills.run, skill, [task])
            for skill, task in planned.tasks.items()
        }
        outcomes = {skill: future.result()[0] for skill, future in futures.items()}
        return complete(planned.request_id, planned.decision, planned.router_ms, outcomes, started, retrieve_ms)
