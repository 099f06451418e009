"""Same-topic negatives: a question paired with the passage of its article that matches it best and lacks its answer."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.training

pytest.importorskip("torch")

from slmesh.training import qa  # noqa: E402  (needs torch)


def _row(qid: str, title: str, question: str, context: str, answer: str | None) -> dict[str, Any]:
    start = context.find(answer) if answer else -1
    answers = {"text": [answer], "answer_start": [start]} if answer else {"text": [], "answer_start": []}
    return {"id": qid, "title": title, "question": question, "context": context, "answers": answers}


PRICE = "The Aurora X2 headphones cost 199 euros."
CUSHIONS = "Spare ear cushions for the Aurora X2 cost 25 euros a pair."
HISTORY = "The company was founded in a garage in 1998."
OTHER_ARTICLE = "Aurora X2 headphones are sold in Lisbon for 199 euros, among other cities."

ROWS = [
    _row("q1", "Aurora", "How much do the Aurora X2 headphones cost?", PRICE, "199 euros"),
    _row("q2", "Aurora", "When was the company founded?", HISTORY, "1998"),
    _row("q3", "Aurora", "How much are spare cushions?", CUSHIONS, "25 euros"),
    _row("q4", "Lisbon", "Where are they sold?", OTHER_ARTICLE, "Lisbon"),
]


def test_a_question_gets_the_best_matching_passage_of_its_own_article() -> None:
    # Given three passages of one article and a fourth, elsewhere, that holds the answer
    negatives = {n["id"]: n for n in qa.same_topic_negatives(ROWS, share=1.0, seed=0)}
    # Then the price question gets the cushions passage (most shared words, no "199 euros") as unanswerable
    assert negatives["q1-negative"]["context"] == CUSHIONS
    assert negatives["q1-negative"]["answers"] == {"text": [], "answer_start": []}
    assert negatives["q1-negative"]["question"] == ROWS[0]["question"]


def test_a_passage_that_holds_the_answer_is_never_a_negative() -> None:
    rows = [*ROWS[:1], _row("q5", "Aurora", "Price?", "Still 199 Euros, as before.", "199 euros")]
    # Every other passage of the article holds the normalised answer: the question gets no negative
    negatives = qa.same_topic_negatives(rows, share=1.0, seed=0)
    assert "q1-negative" not in {n["id"] for n in negatives}


def test_an_article_with_one_passage_draws_from_the_others() -> None:
    negatives = {n["id"]: n for n in qa.same_topic_negatives(ROWS, share=1.0, seed=0)}
    assert negatives["q4-negative"]["context"] in {PRICE, CUSHIONS, HISTORY}


def test_the_share_draws_that_many_questions_and_the_seed_fixes_which() -> None:
    rows = [
        _row(f"q{i}", f"t{i % 5}", f"What is thing {i}?", f"Thing {i} is item {i}.", f"item {i}") for i in range(400)
    ]
    drawn = qa.same_topic_negatives(rows, share=0.25, seed=3)
    assert 70 <= len(drawn) <= 130
    assert drawn == qa.same_topic_negatives(rows, share=0.25, seed=3)
    assert not qa.same_topic_negatives(rows, share=0.0, seed=3)


def test_unanswerable_rows_and_long_passages_are_left_out() -> None:
    long_passage = "word " * (qa.MAX_PASSAGE_CHARS // 5 + 1)
    rows = [
        _row("u1", "A", "Is it any good?", "It arrived.", None),
        _row("q1", "A", "What colour is it?", "It is red.", "red"),
        _row("q2", "A", "How long is it?", long_passage, "word"),
    ]
    negatives = {n["id"]: n for n in qa.same_topic_negatives(rows, share=1.0, seed=0)}
    # u1 has no answer to miss, and the long passage is never handed out (an unanswerable row keeps every window)
    assert "u1-negative" not in negatives
    assert negatives["q1-negative"]["context"] == "It arrived."
    assert all(n["context"] != long_passage for n in negatives.values())


def test_the_answering_sentence_is_rewritten_to_tell_of_a_related_thing() -> None:
    context = "Aurora makes audio gear. The Aurora X2 headphones cost 199 euros. They ship in two days."
    row = _row("q1", "Aurora", "How much do the Aurora X2 headphones cost?", context, "199 euros")
    (negative,) = qa.related_thing_negatives([row], share=1.0, seed=0)
    rewritten = negative["context"]
    # The answer's words and the question's topic stay; the sentence now prices something else
    assert "199 euros" in rewritten and "Aurora X2 headphones" in rewritten
    assert any(f"{thing} the aurora x2 headphones cost 199 euros" in rewritten.lower() for thing in qa.RELATED_THINGS)
    assert rewritten.startswith("Aurora makes audio gear. ") and rewritten.endswith(" They ship in two days.")
    assert negative["answers"] == {"text": [], "answer_start": []}


def test_no_related_thing_is_made_when_the_answer_repeats_or_the_topic_is_not_named() -> None:
    repeated = _row("q1", "A", "What does the X2 cost?", "The X2 costs 5 euros. Refills: 5 euros.", "5 euros")
    unnamed = _row("q2", "A", "What does the X2 cost?", "It costs 7 euros.", "7 euros")
    assert qa.related_thing_negatives([repeated, unnamed], share=1.0, seed=0) == []
