"""The retrieve function: the router's plan back, its questions sent without a context given the knowledge base's
passages (slmesh.orchestration.retrieve, the step the embedded pipeline runs).

The index lives in S3 (`slmesh kb push`, slmesh.cloud.kbstore). The function's settings are validated at cold start;
its first invoke downloads the index to /tmp and opens it against the embed model, once per process, and an index
another embedding model built is refused there (StaleIndexError) instead of ranking passages by meaningless scores.
Without a bucket (no knowledge base deployed) plans pass unchanged, as the embedded pipeline's do without one.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from slmesh.cloud.events import InvalidEvent, RoutedRequest
from slmesh.cloud.handler_types import Handler
from slmesh.cloud.kbstore import BUCKET_ENV, IndexLocation, pull
from slmesh.cloud.observability import configure, instrumented, logger, metrics
from slmesh.config import Settings, settings_from_env
from slmesh.kb.index import StaleIndexError
from slmesh.kb.retrieval import Retriever
from slmesh.lazy import Once
from slmesh.orchestration import PassageSource, Plan, retrieve
from slmesh.runtime import ModelStore

LazySource = Once[PassageSource | None]


def open_retriever(
    location: IndexLocation, settings: Settings, client: Any = None, tmp: Path | None = None
) -> Retriever:
    """The Retriever over the index at `location`, downloaded into a fresh folder under `tmp` (/tmp by default) and
    opened now; the folder is removed again when the index cannot be opened."""
    if client is None:
        import boto3

        client = boto3.client("s3")
    folder = Path(tempfile.mkdtemp(prefix="slmesh-kb-", dir=tmp))
    try:
        pull(client, location, folder)
        retriever = Retriever(
            folder, ModelStore(settings.models_dir, settings.threads), settings.kb_top_k, settings.kb_min_score
        )
        try:
            retriever.knowledge_base  # noqa: B018 - opened (and checked against the embedder) at cold start
        except StaleIndexError as exc:
            raise StaleIndexError(f"the knowledge base at {location} is stale: {exc}, then `slmesh kb push`") from exc
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return retriever


def retrieve_event(event: Any, source: PassageSource | None) -> RoutedRequest:
    """The routed request with passages for each retrieving task without a context, and the time it took."""
    try:
        routed = RoutedRequest.model_validate(event)
    except ValidationError as exc:
        raise InvalidEvent.from_validation("retrieve event", exc) from exc
    tasks = {name: task for name, task in routed.route.items() if task is not None}
    found, retrieve_ms = retrieve(Plan(routed.request_id, routed.decision, routed.router_ms, tasks), source)
    if retrieve_ms is None:
        logger.info("nothing retrieved", extra={"knowledge_base": source is not None})
        return routed
    passages = {name: len(task.passages or []) for name, task in found.tasks.items() if task.passages is not None}
    metrics.add_metric(name="RetrieveLatency", unit=MetricUnit.Milliseconds, value=retrieve_ms)
    metrics.add_metric(name="RetrievedPassages", unit=MetricUnit.Count, value=sum(passages.values()))
    # Counts only: the passages are the knowledge base's text, the subjects the user's.
    logger.info("retrieved", extra={"passages": passages, "retrieve_ms": retrieve_ms})
    route = {name: found.tasks.get(name) for name in routed.route}
    return routed.model_copy(update={"route": route, "retrieve_ms": retrieve_ms})


def make_retrieve_handler(source: LazySource | None = None) -> Handler:
    """`source` replaces the index read from S3 (tests pass failing ones)."""
    configure()
    location = IndexLocation.from_env()
    settings = settings_from_env()
    if location is None:
        logger.warning(f"no knowledge base is deployed ({BUCKET_ENV} is empty): plans pass unchanged")
    lazy: LazySource = source or Once(lambda: open_retriever(location, settings) if location is not None else None)

    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return retrieve_event(event, lazy.get()).model_dump(mode="json")

    return instrumented(handler, correlation_id_path="request_id")
