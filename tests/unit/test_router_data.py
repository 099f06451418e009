"""The router's generated prompts: labels, subject spans and the held-out phrasing split."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from slmesh.training.router_data import (
    KINDS,
    QA_LEADS,
    SubjectPools,
    generate,
    handwritten_sets,
    split_phrasings,
)

pytestmark = pytest.mark.unit

POOLS = SubjectPools(
    opinions=["the film is a charming , funny ride", "a dull , lifeless mess that never ends"],
    questions=["When did the bridge open?", "who founded the company", "the song was written by whom"],
    passages=["The council met on Tuesday. It approved the tram line. Work starts in May."],
    requests=["set an alarm for six", "play some jazz"],
    chatter=["how are you today", "are you a bot"],
)


def test_every_example_has_ordered_tasks_and_a_subject_inside_the_prompt() -> None:
    examples = list(generate(POOLS, 600, seed=1, held_out=False))
    kinds_seen = Counter(tuple(e.tasks) for e in examples)
    assert set(kinds_seen) == {
        ("sentiment",),
        ("qa",),
        ("sentiment", "qa"),
        ("summarize",),
        (),
        ("sentiment", "summarize"),
    }
    for example in examples:
        assert 0 <= example.subject_start <= example.subject_end <= len(example.prompt)
        if example.tasks:
            assert example.prompt[example.subject_start : example.subject_end].strip()
        else:
            assert example.subject_start == example.subject_end == 0


def test_indirect_questions_tag_the_clause_after_the_lead() -> None:
    leads = tuple(lead.lower() for lead in QA_LEADS)
    indirect = [
        e
        for e in generate(POOLS, 400, seed=3, held_out=False)
        if e.tasks == ["qa"] and e.prompt[: e.subject_start].strip().lower().endswith(leads)
    ]
    tagged = {e.prompt[e.subject_start : e.subject_end] for e in indirect}
    # Only questions that start like one become a "tell me ..." clause, lowercased and without the question mark.
    assert tagged == {"when did the bridge open", "who founded the company"}


def test_test_split_phrasings_never_appear_in_training_prompts() -> None:
    held_leads = split_phrasings(QA_LEADS, held_out=True)
    train_leads = split_phrasings(QA_LEADS, held_out=False)
    assert held_leads and train_leads and not set(held_leads) & set(train_leads)
    clauses = ("when did the bridge open", "who founded the company")
    train_prompts = " | ".join(e.prompt.lower() for e in generate(POOLS, 800, seed=2, held_out=False))
    test_prompts = " | ".join(e.prompt.lower() for e in generate(POOLS, 800, seed=2, held_out=True))
    for lead in held_leads:
        assert not any(f"{lead.lower()} {c}" in train_prompts for c in clauses), lead
    assert any(f"{lead.lower()} {c}" in test_prompts for lead in held_leads for c in clauses)


def test_kind_weights_sum_to_one() -> None:
    assert sum(KINDS.values()) == pytest.approx(1.0)


def test_handwritten_sets_are_read_by_file_stem(tmp_path: Path) -> None:
    rows = [{"prompt": "hello", "tasks": []}, {"prompt": "Is this good? 'great film'", "tasks": ["sentiment"]}]
    (tmp_path / "router_extra.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    (tmp_path / "other.jsonl").write_text("{}\n")
    assert handwritten_sets(tmp_path) == {"router_extra": rows}
    assert handwritten_sets(tmp_path / "missing") == {}


def test_generation_is_reproducible_from_the_seed() -> None:
    first = [e.prompt for e in generate(POOLS, 50, seed=7, held_out=True)]
    again = [e.prompt for e in generate(POOLS, 50, seed=7, held_out=True)]
    assert first == again
    assert first != [e.prompt for e in generate(POOLS, 50, seed=8, held_out=True)]
