"""Which text each chosen skill works on: the router's target, checked against the request when it is planned."""

from __future__ import annotations

import pytest

from slmesh.orchestration import INLINE_PASSAGE_WORDS, needs_passages, plan
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
        subject = self.subject if self.subject and self.subject in prompt else prompt
        start = self.start if subject is self.subject else None
        return RouterDecision(
            skills=self._skills, scores={}, subject=subject, subject_start=start, targets=self._targets
        )

    subject = ""
    """The router's subject when the prompt holds it, else the whole prompt."""
    start: int | None = None
    """Where the router says the subject begins."""


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


def _asking(skills: list[str], question: str) -> Scripted:
    router = Scripted(skills, dict.fromkeys(skills, "subject"))
    router.subject = question
    return router


def test_a_question_about_a_text_pasted_in_the_prompt_reads_that_text_and_so_do_the_skills_beside_it() -> None:
    # Given a passage pasted before a question, no context sent, routed to QA, sentiment and a summary
    question = "Was the breakfast included?"
    prompt = f"{PASSAGE} {PASSAGE} Sum it up, how did they feel, and: {question}"
    planned = plan(AnalyzeRequest(prompt=prompt), _asking(["sentiment", "qa", "summarize"], question))
    # Then QA asks the question of the prompt's other words, at the prompt's own offsets, and retrieves nothing
    qa = planned.tasks["qa"]
    assert qa.subject == question and qa.context is not None and len(qa.context) == len(prompt)
    assert qa.context.index(PASSAGE) == prompt.index(PASSAGE) and question not in qa.context
    assert needs_passages(planned) == []
    # And sentiment and the summary read the passage, not the question
    for name in ("sentiment", "summarize"):
        assert planned.tasks[name].text.startswith(PASSAGE) and question not in planned.tasks[name].text
    # And the decision still names the question as its subject
    assert planned.decision.subject == question


def test_a_question_with_only_an_instruction_beside_it_has_no_pasted_passage() -> None:
    # Given the article's prompt: an instruction and a question, fewer words beside it than a passage holds
    question = "Is the train coming at all?"
    prompt = f'Analyse sentiment and answer the following question: "{question}"'
    assert len(prompt.replace(question, "").split()) < INLINE_PASSAGE_WORDS
    planned = plan(AnalyzeRequest(prompt=prompt), _asking(["sentiment", "qa"], question))
    # Then QA has no context and retrieval serves it, and sentiment reads the question
    assert planned.tasks["qa"].context is None and needs_passages(planned) == ["qa"]
    assert planned.tasks["sentiment"].text == question


def test_a_sent_context_wins_over_a_passage_in_the_prompt_and_a_summary_alone_keeps_its_subject() -> None:
    question = "When was it?"
    prompt = f"{PASSAGE} {PASSAGE} {question}"
    planned = plan(AnalyzeRequest(prompt=prompt, context="It was in May."), _asking(["qa"], question))
    assert planned.tasks["qa"].context == "It was in May."
    # And with no question routed, a short subject beside a long text stays the subject
    prompt = f"Summarise the guest review below.\n{PASSAGE}\n{PASSAGE}"
    alone = plan(AnalyzeRequest(prompt=prompt), _asking(["summarize"], "the guest review"))
    assert alone.tasks["summarize"].text == "the guest review" and alone.tasks["summarize"].context is None


def test_an_opinion_with_a_question_after_it_keeps_the_whole_text_as_its_subject() -> None:
    # Given a rant and a question routed as one subject from the text to the question, after a long preamble
    told = f"{PASSAGE} {PASSAGE} {PASSAGE} Can I get my money back?"
    prompt = f"Sorry for the long message, I just need to get this off my chest before I write to them tomorrow. {told}"
    assert len(prompt.replace(told, "").split()) >= INLINE_PASSAGE_WORDS
    planned = plan(AnalyzeRequest(prompt=prompt), _asking(["sentiment", "qa"], told))
    # Then sentiment reads the rant, not the preamble, and QA has no pasted passage
    assert planned.tasks["sentiment"].text == told
    assert planned.tasks["qa"].context is None


def test_the_skills_beside_qa_read_the_side_of_the_prompt_across_from_the_asks() -> None:
    question = "when the bridge opened"
    text = f"{PASSAGE}\n{PASSAGE}"
    prompt = f"Summarise this and tell me {question}: {text}"
    planned = plan(AnalyzeRequest(prompt=prompt), _asking(["qa", "summarize"], question))
    assert planned.tasks["summarize"].text == text


def test_a_question_the_passage_also_holds_is_blanked_where_the_router_found_it() -> None:
    # Given a pasted passage that quotes the question, and the question asked after it
    question = "When did the bridge open?"
    passage = (
        f'At the launch the mayor was asked "{question}" and said the first cars crossed it in the spring of 1932,'
        " after six years of building and two strikes that held the work up for most of a summer."
    )
    prompt = f"{passage}\n\nSummarise it, and {question}"
    router = Scripted(["qa", "summarize"], {"summarize": "subject"})
    router.subject, router.start = question, prompt.rindex(question)
    # When it is planned
    planned = plan(AnalyzeRequest(prompt=prompt), router)
    # Then QA's passage keeps the quoted question and blanks the one asked, offsets unchanged
    context = planned.tasks["qa"].context
    assert context is not None and len(context) == len(prompt)
    assert question in context and not context.rstrip().endswith(question)
    # And the summary reads the passage, the quoted question in it
    assert planned.tasks["summarize"].text.startswith("At the launch") and question in planned.tasks["summarize"].text
