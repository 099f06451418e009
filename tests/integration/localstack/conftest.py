"""The LocalStack tier: one LocalStack and one deployment of template.yaml per session.

LocalStack is AWS_ENDPOINT_URL's when set (used as it is), else our own inside the container engine's namespace
(slmesh.bench.localstack), stopped at the end of the session. The stack is deployed from template.yaml by the
project's packaging code with the images the container tier built (slmesh.bench.cloud_stack). A failing test gets
the tail of LocalStack's log in its report; the whole log stays under the session's pytest temporary folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from slmesh.bench import images
from slmesh.bench.cloud_stack import Deployed, deploy_stack
from slmesh.bench.engine import Engine
from slmesh.bench.event_path import Completions
from slmesh.bench.localstack import LocalStack, LocalStackUnavailableError, localstack
from slmesh.pipeline import Pipeline
from slmesh.schemas import AnalyzeRequest, AnalyzeResponse

_running: list[LocalStack] = []


@pytest.fixture(scope="session")
def localstack_instance(
    container_engine: Engine, lambda_base: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    try:
        with localstack(container_engine, tmp_path_factory.mktemp("localstack"), lambda_base) as started:
            _running.append(started)
            yield started
            _running.remove(started)
    except LocalStackUnavailableError as exc:
        pytest.skip(f"no LocalStack: {exc}")


@pytest.fixture(scope="session")
def deployed(localstack_instance: LocalStack, built: dict[str, images.Built], layer: Path) -> Deployed:
    """template.yaml deployed, every function warm."""
    return deploy_stack(localstack_instance, layer)


@pytest.fixture(scope="session")
def completions(deployed: Deployed) -> Iterator[Completions]:
    """AnalysisCompleted events, read from a queue subscribed to the stack's bus for this session."""
    with Completions.subscribed(deployed) as subscribed:
        yield subscribed


@pytest.fixture(scope="session")
def mock_config(localstack_instance: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Callable[[Any], None]:
    """Writes LocalStack's Step Functions mock configuration (SFN_MOCK_CONFIG, reread on change)."""
    if not localstack_instance.own:
        pytest.skip("Step Functions mocks need a LocalStack started with SFN_MOCK_CONFIG (our own)")
    assert localstack_instance.log_path is not None
    path = localstack_instance.log_path.parent / "sfn-mock-config.json"

    def write(config: Any) -> None:
        path.write_text(json.dumps(config))

    return write


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flat(item, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): value}


@pytest.fixture(scope="session")
def same_answers(pipeline: Pipeline) -> Callable[[Any, dict[str, Any]], AnalyzeResponse]:
    """Checks a deployed answer against the embedded pipeline's for the same request: the deployment must not
    change which skills run nor what they answer (scores to 1e-3: the images' onnxruntime build may differ)."""

    def check(answer: Any, request: dict[str, Any]) -> AnalyzeResponse:
        response = AnalyzeResponse.model_validate(answer)
        embedded = pipeline.analyze(AnalyzeRequest.model_validate(request))
        assert response.skills == embedded.skills
        assert response.router.subject == embedded.router.subject
        assert set(response.outcomes) == set(embedded.outcomes)
        for skill, outcome in response.outcomes.items():
            assert outcome.status == "ok", outcome
            assert outcome.result is not None and embedded.outcomes[skill].result is not None
            ours, theirs = _flat(outcome.result.model_dump()), _flat(embedded.outcomes[skill].result.model_dump())
            assert ours == pytest.approx(theirs, abs=1e-3), skill
        return response

    return check


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    if report.failed and _running and _running[0].log_path is not None:
        report.sections.append((f"LocalStack log ({_running[0].log_path})", _running[0].log_tail()))
    return report
