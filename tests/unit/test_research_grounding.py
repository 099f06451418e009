"""The grounding study's pure parts: the negative-pair builder, the threshold sweep and its pick, and the end-to-end
scoring of retrieved passages (slmesh.research.grounding)."""

from __future__ import annotations

import numpy as np
import pytest

from slmesh.research.grounding import (
    Pair,
    Question,
    Retrieved,
    Scored,
    build_pairs,
    holds_answer,
    passage_pool,
    pick,
    retrieved_answer,
    score_end_to_end,
    score_rule,
    tiled,
)

pytestmark = pytest.mark.unit


def _row(qid: str, title: str, context: str, question: str, answers: list[str]) -> dict[str, object]:
    return {
        "id": qid,
        "title": title,
        "context": context,
        "question": question,
        "answers": {"text": answers, "answer_start": [context.find(a) for a in answers]},
        "set": "tiny",
    }


ROWS = [
    _row("q1", "Bridges", "The Pelmo bridge was opened by Clara Voss in 1901.", "Who opened it?", ["Clara Voss"]),
    _row("q2", "Trains", "The first train left Old Town in 1847.", "When did the first train leave?", ["1847"]),
    _row("q3", "Rivers", "The river Lume is 80 km long; Clara Voss mapped it.", "How long is the Lume?", ["80 km"]),
]
UNANSWERABLE = [_row("u1", "Reviews", "Great headphones, comfy.", "Is the battery good?", [])]


def _pairs(similarity: np.ndarray | None, seed: int = 7) -> list[Pair]:
    return build_pairs(ROWS, UNANSWERABLE, passage_pool([*ROWS, *UNANSWERABLE]), similarity, seed)


def test_each_answerable_question_gets_its_passage_a_random_and_a_hard_negative() -> None:
    # Given three answerable questions on three articles and one unanswerable question, with similarities that make
    # the Rivers passage (which names Clara Voss) the nearest other passage for q1
    pool = passage_pool([*ROWS, *UNANSWERABLE])
    similarity = np.zeros((3, len(pool)), dtype=np.float32)
    titles = [t for t, _ in pool]
    similarity[0, titles.index("Rivers")] = 0.9
    similarity[0, titles.index("Trains")] = 0.5
    # When the pairs are built
    pairs = _pairs(similarity)
    # Then every answerable question has a positive (its own paragraph), a random and a hard negative
    kinds = [(p.qid, p.kind) for p in pairs]
    for qid in ("q1", "q2", "q3"):
        assert [k for q, k in kinds if q == qid] == ["positive", "random", "hard"]
    assert ("u1", "unanswerable") in kinds
    by = {(p.qid, p.kind): p for p in pairs}
    assert by["q1", "positive"].context == ROWS[0]["context"]
    # And no negative is of the question's own article or holds its gold answer: q1's hard negative skips Rivers
    for p in pairs:
        if p.kind in {"random", "hard"}:
            row = next(r for r in ROWS if r["id"] == p.qid)
            assert p.context != row["context"] and not holds_answer(p.context, p.answers)
    assert by["q1", "hard"].context == ROWS[1]["context"]
    assert by["q1", "hard"].cosine == pytest.approx(0.5)
    # And the pairs of one question share its fold
    assert len({p.fold for p in pairs if p.qid == "q1"}) == 1


def test_pairs_are_the_same_for_the_same_seed_and_have_no_hard_negatives_without_similarities() -> None:
    assert _pairs(None, seed=3) == _pairs(None, seed=3)
    assert all(p.kind != "hard" for p in _pairs(None))


def test_holds_answer_matches_whole_normalised_words() -> None:
    assert holds_answer("Opened by Clara  Voss, in 1901.", ["clara voss"])
    assert not holds_answer("Clara Vossberg opened it.", ["Clara Voss"])


def _scored(kind: str, margin: float, answer: str = "", answers: tuple[str, ...] = ()) -> Scored:
    return Scored("q", kind, "tiny", answers, 0, margin, answer)


RECORDS = [
    _scored("positive", 9.0, "Clara Voss", ("Clara Voss",)),
    _scored("positive", 3.0, "1847", ("1847",)),
    _scored("hard", 7.0, "Old Town"),
    _scored("random", 1.0, "Lume"),
    _scored("unanswerable", -1.0, "comfy"),
]


def test_score_rule_counts_abstentions_as_the_unanswerable_class() -> None:
    # At threshold 5 the second positive abstains (F1 0) and the hard negative is answered (invented)
    at5 = score_rule(RECORDS, 5.0)
    assert at5["answerable_f1"] == 50.0 and at5["answerable_em"] == 50.0
    # abstained: positive 2, random, unanswerable -> 2 of 3 right; 2 of the 3 negatives abstained
    assert at5["unanswerable_precision"] == pytest.approx(66.67)
    assert at5["unanswerable_recall"] == pytest.approx(66.67)
    assert at5["overall_f1"] == pytest.approx(60.0)
    # At threshold 8 every negative abstains, one positive still answers
    at8 = score_rule(RECORDS, 8.0)
    assert at8["unanswerable_recall"] == 100.0 and at8["answerable_f1"] == 50.0
    assert at8["unanswerable_precision"] == 75.0


def test_pick_keeps_answerable_f1_within_the_allowed_drop() -> None:
    rows = [
        {"threshold": 2.0, "answerable_f1": 70.0, "unanswerable_f1": 50.0},
        {"threshold": 4.0, "answerable_f1": 69.0, "unanswerable_f1": 60.0},
        {"threshold": 6.0, "answerable_f1": 67.5, "unanswerable_f1": 70.0},
        {"threshold": 8.0, "answerable_f1": 60.0, "unanswerable_f1": 80.0},
    ]
    assert pick(rows, baseline_f1=70.0)["threshold"] == 4.0
    assert pick(rows, baseline_f1=70.0, max_drop=3.0)["threshold"] == 6.0


def _question(passages: tuple[Retrieved, ...], gold: str = "gold.txt") -> Question:
    return Question("q", ("Clara Voss",), gold, 9.0, "Clara Voss", passages)


def test_retrieved_answer_takes_the_largest_margin_and_the_invented_rate_counts_questions_without_gold() -> None:
    found = _question((Retrieved("gold.txt", 0.8, 4.0, "Voss"), Retrieved("other.txt", 0.78, 6.0, "Clara Voss")))
    assert retrieved_answer(found, 5.0) == ("Clara Voss", True)
    assert retrieved_answer(found, 7.0) == ("", False)
    assert retrieved_answer(found, 5.0, min_score=0.79) == ("", False)
    invented = _question((Retrieved("other.txt", 0.6, 8.0, "Old Town"),))
    refused = _question(())
    abstains = _question((Retrieved("other.txt", 0.6, 1.0, "Lume"),))
    scores = score_end_to_end([found, invented, refused, abstains], 5.0)
    assert scores["given_f1"] == 100.0
    assert scores["retrieved_f1"] == 25.0
    assert scores["gold_not_retrieved"] == 3 and scores["answered_without_gold"] == 1
    assert scores["invented_rate"] == pytest.approx(33.33)
    assert scores["invented_of_answered"] == 100.0


def test_tiled_repeats_real_rows_in_order() -> None:
    vectors = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert tiled(vectors, 2).tolist() == [[0, 1], [2, 3]]
    assert tiled(vectors, 5)[3:].tolist() == [[0, 1], [2, 3]]
