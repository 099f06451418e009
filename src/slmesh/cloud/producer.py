"""For producers other than the API: put an AnalysisRequested event on the slmesh bus."""

from __future__ import annotations

from typing import Any

from slmesh.cloud.events import AnalysisRequested
from slmesh.schemas import AnalyzeRequest

SOURCE = "slmesh.producer"
REQUESTED = "AnalysisRequested"


class PutEventsFailed(RuntimeError):
    """EventBridge accepted the call but not the entry."""


def analysis_requested_entry(
    bus_name: str, job_id: str, request: AnalyzeRequest, source: str = SOURCE
) -> dict[str, str]:
    detail = AnalysisRequested(job_id=job_id, request=request)
    return {
        "EventBusName": bus_name,
        "Source": source,
        "DetailType": REQUESTED,
        "Detail": detail.model_dump_json(exclude_none=True),
    }


def request_analysis(events_client: Any, bus_name: str, job_id: str, request: AnalyzeRequest) -> str:
    """Returns the EventBridge event id; the job's status is then at GET /v1/jobs/{job_id}."""
    response = events_client.put_events(Entries=[analysis_requested_entry(bus_name, job_id, request)])
    entry = response["Entries"][0]
    if response.get("FailedEntryCount") or "EventId" not in entry:
        raise PutEventsFailed(f"{entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")
    return str(entry["EventId"])
