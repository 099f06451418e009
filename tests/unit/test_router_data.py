"""The router's generated prompts: labels, subject spans and the held-out phrasing split."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from slmesh.training import router_data
from slmesh.training.router_data import QA_LEADS, SubjectPools, generate, handwritten_sets, split_phrasings

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
    def after_lead(prefix: str) -> bool:
        return any(prefix == f"{lead} " or prefix.endswith(f", {lead[:1].lower()}{lead[1:]} ") for lead in QA_LEADS)

    tagged = {
        e.prompt[e.subject_start : e.subject_end]
        for seed in range(20)
        for e in generate(POOLS, 200, seed=seed, held_out=False)
        if e.tasks == ["qa"] and after_lead(e.prompt[: e.subject_start])
    }
    # Only questions that start like one become a "tell me ..." clause, lowercased and without the question mark.
    assert tagged == {"when did the bridge open", "who founded the company"}


PHRASINGS = [
    router_data.SENTIMENT,
    router_data.SENTIMENT_AFTER,
    router_data.QA,
    router_data.QA_AFTER,
    router_data.BOTH,
    router_data.BOTH_AFTER,
    router_data.SUMMARIZE,
    router_data.SUMMARIZE_SENTIMENT,
    router_data.OTHER,
    router_data.SENTIMENT_VERBS,
    router_data.QA_VERBS,
    router_data.OTHER_VERBS,
    router_data.QA_LEADS,
    router_data.SUMMARIZE_VERBS,
    router_data.POLARITY_FRAMES,
    router_data.CONTEXT_REFERENCES,
]


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[^a-z;' ]", " ", text.lower().replace("{o}", " ")).split())


def test_no_held_out_phrasing_is_part_of_a_training_phrasing() -> None:
    training = [_plain(p) for items in PHRASINGS for p in split_phrasings(items, held_out=False)]
    for items in PHRASINGS:
        for phrasing in split_phrasings(items, held_out=True):
            plain = _plain(phrasing)
            if plain:
                assert not [t for t in training if plain in t], phrasing


def test_held_out_leads_reach_only_the_test_split() -> None:
    clauses = ("when did the bridge open", "who founded the company")
    held_leads = split_phrasings(QA_LEADS, held_out=True)
    train_prompts = " | ".join(e.prompt.lower() for e in generate(POOLS, 800, seed=2, held_out=False))
    test_prompts = " | ".join(e.prompt.lower() for e in generate(POOLS, 800, seed=2, held_out=True))
    for lead in held_leads:
        assert not any(f"{lead.lower()} {c}" in train_prompts for c in clauses), lead
    assert any(f"{lead.lower()} {c}" in test_prompts for lead in held_leads for c in clauses)


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
