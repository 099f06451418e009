"""Which text each chosen skill works on: the router's target, checked against the request when it is planned."""

from __future__ import annotations

import pytest

from slmesh.orchestration import plan
from slmesh.schemas import AnalyzeRequest, RouterDecision, SkillTask, Target
from slmesh.skills.registry import registry

pytestmark = pytest.mark.unit

PASSAGE = "The hotel was dirty, the staff were rude and the breakfast was cold. Never again."


class Scripted:
    """Routes every prompt to the given skills, sending each where `targets` says."""

    def __init__(self, skills: list[str], targets: dict[str, Target]) -> None:
        self._skills = skills
        self._targets = targets
        self.attached: list[bool] = []

    def route(self, prompt: str, attached: bool = False) -> RouterDecision:
        self.attached.append(attached)
        return RouterDecision(skills=self._skills, scores={}, subject=prompt, targets=self._targets)


def test_a_skill_the_router_sends_to_the_context_reads_the_context() -> None:
    # Given a prompt about the attached text, routed to sentiment on the context
    router = Scripted(["sentiment"], {"sentiment": "context", "qa": "subject", "summarize": "subject"})
    request = AnalyzeRequest(prompt="Tell me the passage's sentiment", context=PASSAGE)
    # When it is planned
    planned = plan(request, router)
    # Then the response's decision and the task both say context, and the task's text is the passage
    assert planned.decision.targets == {"sentiment": "context"}
    assert planned.tasks["sentiment"].target == "context"
    assert planned.tasks["sentiment"].text == PASSAGE


def test_the_router_is_told_whether_the_request_sends_a_context() -> None:
    router = Scripted(["summarize"], {"summarize": "context"})
    for context in (PASSAGE, "  ", None):
        plan(AnalyzeRequest(prompt="gist?", context=context), router)
    assert router.attached == [True, False, False]


def test_without_a_context_the_skill_falls_back_to_the_subject() -> None:
    router = Scripted(["sentiment"], {"sentiment": "context"})
    planned = plan(AnalyzeRequest(prompt="Tell me the passage's sentiment", context="  "), router)
    assert planned.decision.targets == {"sentiment": "subject"}
    assert planned.tasks["sentiment"].text == "Tell me the passage's sentiment"


def test_qa_always_reads_both_and_the_one_text_skills_keep_the_router_s_target() -> None:
    router = Scripted(
        ["sentiment", "qa", "summarize"], {"sentiment": "subject", "qa": "context", "summarize": "context"}
    )
    planned = plan(AnalyzeRequest(prompt="Is it late? And summarise the notice", context=PASSAGE), router)
    assert planned.decision.targets == {"sentiment": "subject", "qa": "both", "summarize": "context"}
    assert planned.tasks["qa"].target == "both"
    assert planned.tasks["summarize"].text == PASSAGE


def test_a_reserved_skill_keeps_the_router_s_target_and_gets_no_task() -> None:
    with registry.reserving(translate="translation"):
        router = Scripted(["sentiment", "translate"], {"sentiment": "subject", "translate": "context"})
        planned = plan(AnalyzeRequest(prompt="Translate the notice", context=PASSAGE), router)
        assert planned.decision.targets == {"sentiment": "subject", "translate": "context"}
        assert set(planned.tasks) == {"sentiment"}


def test_a_router_without_targets_sends_every_skill_to_the_subject() -> None:
    planned = plan(AnalyzeRequest(prompt="Is it good? 'great food'", context=PASSAGE), Scripted(["sentiment"], {}))
    assert planned.decision.targets == {"sentiment": "subject"}


def test_a_task_s_text_is_the_subject_unless_the_context_is_its_target() -> None:
    task = SkillTask(request_id="r", skill="sentiment", subject="the food was cold", context=PASSAGE)
    assert task.text == "the food was cold"
    assert task.model_copy(update={"target": "context"}).text == PASSAGE
    assert SkillTask(request_id="r", skill="sentiment", subject="s", target="context").text == "s"


def test_an_unknown_target_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="target"):
        SkillTask.model_validate({"request_id": "r", "skill": "sentiment", "subject": "s", "target": "prompt"})
