"""System 5: the deployed stack in LocalStack — the sync path through API Gateway, and the event path from
`POST /v1/jobs` to `AnalysisCompleted` on the bus, one job at a time and as a burst.

Completions are read from a queue this module subscribes to the bus (`Completions`), the way a consumer of the
event path would; each one is stamped when it arrives, so submit-to-completed latency includes the bus delivery.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slmesh.bench import images
from slmesh.bench.cloud_stack import Deployed, build_images, deploy_stack
from slmesh.bench.engine import EngineUnavailableError, engine
from slmesh.bench.localstack import LocalStackUnavailableError, localstack
from slmesh.bench.stack import STAGES, article_latency
from slmesh.bench.stats import ms_since, summarize
from slmesh.bench.workload import article_requests

COMPLETED = "AnalysisCompleted"
SUBMIT_WORKERS = 8


@dataclass
class Completion:
    job_id: str
    status: str
    detail: dict[str, Any]
    received: float


@dataclass
class Completions:
    """Every AnalysisCompleted event on the stack's bus, as a queue subscribed with its own rule receives it."""

    deployed: Deployed
    queue_url: str
    seen: dict[str, list[Completion]] = field(default_factory=dict)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _stop: threading.Event = field(default_factory=threading.Event)

    @classmethod
    @contextmanager
    def subscribed(cls, deployed: Deployed) -> Iterator[Completions]:
        sqs, events = deployed.ls.client("sqs"), deployed.ls.client("events")
        name = f"slmesh-completed-{uuid.uuid4().hex[:8]}"
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        bus = deployed.stack.outputs["EventBusName"]
        events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"detail-type": [COMPLETED]}))
        events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "completed", "Arn": arn}])
        completions = cls(deployed, url)
        reader = threading.Thread(target=completions._read, name="completions", daemon=True)
        reader.start()
        try:
            yield completions
        finally:
            completions._stop.set()
            reader.join()
            events.remove_targets(Rule=name, EventBusName=bus, Ids=["completed"])
            events.delete_rule(Name=name, EventBusName=bus)
            sqs.delete_queue(QueueUrl=url)

    def _read(self) -> None:
        sqs = self.deployed.ls.client("sqs")
        while not self._stop.is_set():
            messages = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []
            )
            received = time.perf_counter()
            if not messages:
                continue
            with self._changed:
                for message in messages:
                    detail = json.loads(message["Body"])["detail"]
                    job = Completion(detail["job_id"], detail["status"], detail, received)
                    self.seen.setdefault(job.job_id, []).append(job)
                self._changed.notify_all()
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)

    def wait(self, job_ids: Iterable[str], timeout_s: float) -> dict[str, list[Completion]]:
        """The completions of `job_ids` once every one has arrived (or what arrived by the deadline)."""
        wanted = set(job_ids)
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not wanted <= self.seen.keys() and time.monotonic() < deadline:
                self._changed.wait(min(1.0, max(0.0, deadline - time.monotonic())))
            return {job: list(self.seen[job]) for job in wanted if job in self.seen}


def submit(deployed: Deployed, body: dict[str, Any]) -> tuple[str, float]:
    """POST /v1/jobs; the job id and when it was sent."""
    sent = time.perf_counter()
    answer = deployed.submit(body)
    if answer.status != 202:
        raise RuntimeError(f"POST /v1/jobs answered {answer.status}: {answer.body}")
    return str(answer.body["job_id"]), sent


def job_latency(deployed: Deployed, completions: Completions, runs: int, timeout_s: float = 120) -> dict[str, Any]:
    """Submit to AnalysisCompleted, one job at a time over the article's prompts."""
    samples = []
    for i in range(runs):
        prompt, context = article_requests()[i % len(article_requests())]
        job_id, sent = submit(deployed, {"prompt": prompt, "context": context})
        done = completions.wait([job_id], timeout_s).get(job_id)
        if not done:
            raise RuntimeError(f"job {job_id} did not complete within {timeout_s:.0f} s")
        samples.append((done[0].received - sent) * 1000.0)
    return summarize(samples)


def burst(deployed: Deployed, completions: Completions, jobs: int, timeout_s: float = 600) -> dict[str, Any]:
    """`jobs` submitted at once (SUBMIT_WORKERS requests in flight); counts, duplicates, jobs/s and latency."""
    requests = [dict(zip(("prompt", "context"), article_requests()[i % 3], strict=True)) for i in range(jobs)]
    started = time.perf_counter()
    with ThreadPoolExecutor(SUBMIT_WORKERS) as pool:
        sent = dict(pool.map(lambda body: submit(deployed, body), requests))
    submitted_s = time.perf_counter() - started
    done = completions.wait(sent, timeout_s)
    last = max((c[0].received for c in done.values()), default=time.perf_counter())
    statuses = Counter(c[0].status for c in done.values())
    return {
        "jobs": jobs,
        "job_ids": sorted(sent),
        "submitted_s": round(submitted_s, 2),
        "completed": len(done),
        "duplicates": sum(len(c) - 1 for c in done.values()),
        "statuses": dict(statuses),
        "seconds": round(last - started, 2),
        "jobs_per_s": round(len(done) / (last - started), 2) if done else 0.0,
        "latency_ms": summarize([(c[0].received - sent[job]) * 1000.0 for job, c in done.items()]),
    }


@dataclass
class SyncPath:
    """POST /v1/analyze through LocalStack's API Gateway: the stage times are the response's own."""

    deployed: Deployed

    def analyze(self, prompt: str, context: str) -> dict[str, float]:
        answer = self.deployed.analyze({"prompt": prompt, "context": context})
        if answer.status != 200:
            raise RuntimeError(f"POST /v1/analyze answered {answer.status}: {answer.body}")
        timings: dict[str, float] = answer.body["timings_ms"]
        return {stage: timings[stage] for stage in STAGES if stage in timings}


def measure_deployed(deployed: Deployed, runs: int, warmup: int, burst_jobs: int) -> dict[str, Any]:
    """The sync path's latency, the event path's submit-to-completed latency and a burst, on a deployed stack."""
    started = time.perf_counter()
    latency = article_latency(SyncPath(deployed), runs, warmup)
    with Completions.subscribed(deployed) as completions:
        job_latency(deployed, completions, warmup)
        jobs = job_latency(deployed, completions, runs)
        crowd = burst(deployed, completions, burst_jobs)
    crowd.pop("job_ids")
    return {
        "latency": latency,
        "event_path": {"submit_to_completed_ms": jobs, "burst": crowd},
        "measure_s": round(ms_since(started) / 1000.0, 1),
    }


def measure(runs: int, warmup: int, burst_jobs: int, say: Callable[[str], None]) -> dict[str, Any]:
    """System 5 from scratch: engine, images, LocalStack, the stack deployed from template.yaml, then measured."""
    with engine() as eng, tempfile.TemporaryDirectory(prefix="slmesh-bench-localstack-") as state:
        say("system 5: function images")
        build_images(eng)
        base = images.lambda_base(eng)
        say("system 5: LocalStack")
        with localstack(eng, Path(state), base) as ls:
            say("system 5: deploying template.yaml")
            deployed = deploy_stack(ls)
            say("system 5: sync and event paths")
            measured = measure_deployed(deployed, runs, warmup, burst_jobs)
    return {
        "name": "slmesh event path (LocalStack)",
        "notes": [
            "template.yaml deployed in LocalStack (community, offline) with the function images built from "
            "functions/Dockerfile; latency: POST /v1/analyze through API Gateway and Step Functions Express, "
            "stage times from the response; event path: POST /v1/jobs to AnalysisCompleted read from a queue "
            "on the bus, one job at a time, then a burst",
        ],
        "deploy_s": deployed.stack.seconds,
        **measured,
    }


NotAvailable = (LocalStackUnavailableError, EngineUnavailableError)
