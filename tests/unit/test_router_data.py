"""The router's generated prompts: labels, subject spans and the held-out phrasing split."""

from __future__ import annotations

import gzip
import json
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from slmesh.training import router_data, router_wording
from slmesh.training.router_data import (
    WRITTEN_REPEAT,
    RouterExample,
    SubjectPools,
    generate,
    handwritten_sets,
    written_examples,
)
from slmesh.training.router_wording import (
    ASSISTANT_TALK,
    GUSHING_CLOSERS,
    INFO_FIELDS,
    INFO_WHO,
    QA_LEADS,
    SPLIT_PHRASINGS,
    UNNAMED_BOTH,
    UNNAMED_SENTIMENT,
    UNNAMED_SUMMARY,
    VENTING_CLOSERS,
    held_out_wordings,
    plain,
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
        ("qa", "summarize"),
        ("sentiment", "qa", "summarize"),
    }
    for example in examples:
        assert 0 <= example.subject_start <= example.subject_end <= len(example.prompt)
        about_the_prompt = [t for t in example.tasks if example.targets.get(t) != "context"]
        if about_the_prompt:
            assert example.prompt[example.subject_start : example.subject_end].strip()
        else:
            assert example.subject_start == example.subject_end == 0


def test_long_prompts_reach_past_what_the_router_reads_and_tag_the_whole_text() -> None:
    # Given generated prompts, some of them long texts with the request before or after them
    low, high = router_data.LONG_WORDS
    long = [e for e in generate(POOLS, 1000, seed=3, held_out=False) if len(e.prompt.split()) >= low]
    # Then every task set of a long text appears, and a text to summarise is the subject, all of it
    assert {tuple(e.tasks) for e in long} == {
        ("sentiment",),
        ("qa",),
        ("sentiment", "qa"),
        ("summarize",),
        ("sentiment", "summarize"),
        ("qa", "summarize"),
        ("sentiment", "qa", "summarize"),
        (),
    }
    summaries = [e for e in long if e.tasks == ["summarize"]]
    assert summaries
    for example in summaries:
        words = len(example.prompt[example.subject_start : example.subject_end].split())
        assert low <= words <= high + 40, example.prompt


def test_every_one_text_task_has_a_target_and_qa_has_none() -> None:
    for example in generate(POOLS, 600, seed=2, held_out=False):
        assert set(example.targets) == set(example.tasks) - {"qa"}
        assert set(example.targets.values()) <= {"subject", "context"}


def test_a_request_about_an_attached_text_targets_the_context_and_a_question_with_it_is_the_subject() -> None:
    # Given the prompts that ask about a text sent beside them ("tell me the passage's sentiment")
    examples = [e for seed in range(3) for e in generate(POOLS, 600, seed=seed, held_out=False)]
    attached = [e for e in examples if "context" in e.targets.values()]
    assert {tuple(e.tasks) for e in attached} >= {("sentiment",), ("summarize",), ("sentiment", "qa")}
    for example in attached:
        subject = example.prompt[example.subject_start : example.subject_end]
        # Then no opinion or passage of the pools is in the prompt: the text is elsewhere
        assert not any(text in example.prompt for text in [*POOLS.opinions, *POOLS.passages]), example.prompt
        # And a question asked with the request is QA's subject; without one nothing is tagged
        if "qa" in example.tasks:
            assert any(plain(subject) in plain(q) for q in POOLS.questions) or _looks_up(subject), example.prompt
        else:
            assert subject == ""
    # And a text inside the prompt is never sent to the context
    inside = [e for e in examples if e.targets and "context" not in e.targets.values()]
    assert any(o in e.prompt for e in inside for o in POOLS.opinions)


def test_indirect_questions_tag_the_clause_after_the_lead() -> None:
    def after_lead(prefix: str) -> bool:
        return any(prefix == f"{lead} " or prefix.endswith(f", {lead[:1].lower()}{lead[1:]} ") for lead in QA_LEADS)

    tagged = {
        e.prompt[e.subject_start : e.subject_end]
        for seed in range(20)
        for e in generate(POOLS, 200, seed=seed, held_out=False)
        if e.tasks == ["qa"] and after_lead(e.prompt[: e.subject_start])
    }
    # Only questions that start like one become a "tell me ..." clause, lowercased and without the question mark
    # (the other clauses after a lead are the statement-form questions' templates).
    from_pools = {t for t in tagged if any(plain(t) == plain(q) for q in POOLS.questions)}
    assert from_pools == {"when did the bridge open", "who founded the company"}


def test_no_held_out_phrasing_is_part_of_a_training_phrasing() -> None:
    training = [plain(p) for items in SPLIT_PHRASINGS for p in split_phrasings(items, held_out=False)]
    for wording in held_out_wordings():
        assert not [t for t in training if wording in t], wording
    assert "praise or criticism" in held_out_wordings()


def test_the_paraphrases_join_their_lists_without_repeats() -> None:
    merged = [plain(p) for items in router_wording.PARAPHRASED.values() for p in items]
    assert len(merged) == len(set(merged))
    assert len(router_wording.SUMMARIZE_AFTER) > 10
    assert len(router_wording.SUMMARIZE_SENTIMENT_AFTER) > 5


def test_a_passage_with_a_question_is_qa_and_the_question_is_the_subject() -> None:
    examples = [e for seed in range(5) for e in generate(POOLS, 300, seed=seed, held_out=False)]
    passage = POOLS.passages[0]
    about_passage = [e for e in examples if passage in e.prompt and e.tasks == ["qa"]]
    assert about_passage
    for example in about_passage:
        subject = example.prompt[example.subject_start : example.subject_end]
        assert passage not in subject
        assert any(plain(subject) in plain(q) for q in POOLS.questions) or _yes_no(subject) or _looks_up(subject), (
            subject
        )


@pytest.mark.parametrize("asked", [*router_wording.REVIEW_QUESTIONS[:3], "when did the bridge open"])
def test_a_question_about_a_review_routes_to_both_with_the_review_as_subject(asked: str) -> None:
    examples = [e for seed in range(20) for e in generate(POOLS, 300, seed=seed, held_out=False)]
    about_review = [e for e in examples if asked in e.prompt.lower()]
    about_review = [e for e in about_review if e.prompt[e.subject_start : e.subject_end] in POOLS.opinions]
    assert about_review
    assert {tuple(e.tasks) for e in about_review} == {("sentiment", "qa")}


def test_clinc_questions_about_the_world_are_qa_and_assistant_requests_are_not(tmp_path: Path) -> None:
    rows = {
        "sentiment/sst2/train.jsonl.gz": [{"text": "a warm , funny and moving film", "label": 1}],
        "qa/squadshifts_new_wiki/train.jsonl.gz": [{"question": "Who built it?", "context": "Ann built it."}],
        "qa/qed_nq/train.jsonl.gz": [],
        "qa/squadshifts_reddit/train.jsonl.gz": [],
        "qa/squadshifts_amazon/train.jsonl.gz": [],
        "intent/clinc150/train.jsonl.gz": [
            {"text": "tell me the weather in paris", "intent": "weather", "domain": "utility"},
            {"text": "set an alarm for seven", "intent": "alarm", "domain": "utility"},
            {"text": "are you a bot", "intent": "are_you_a_bot", "domain": "small_talk"},
            {"text": "how do i create a meeting", "intent": "schedule_meeting", "domain": "work"},
            {"text": "can you book me a table for two", "intent": "restaurant_reservation", "domain": "dining"},
            {"text": "what is 12 times 7", "intent": "calculator", "domain": "utility"},
        ],
    }
    for name, records in rows.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in records * 10)
    pools = SubjectPools.from_data_dir(tmp_path, "train")
    assert not pools.reviews
    # A question that looks something up is QA's whatever its intent; a command phrased as a question is not, nor a
    # question only a tool answers
    assert set(pools.info_questions) == {"tell me the weather in paris", "how do i create a meeting"}
    assert set(pools.requests) == {"set an alarm for seven"}
    assert set(pools.chatter) == {"are you a bot"}


def test_generated_prompts_are_never_a_handwritten_prompt_or_a_piece_of_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chatter = ["hi", "cheers mate", "good night"]
    pools = SubjectPools(opinions=["fine"], questions=["Why?"], passages=["A."], requests=["hi"], chatter=chatter)
    monkeypatch.setattr(
        SubjectPools, "from_data_dir", classmethod(lambda cls, data_dir, split, opinion_model=None: pools)
    )
    written = [{"prompt": "Hi!", "tasks": []}, {"prompt": "Cheers mate, appreciate it", "tasks": []}]
    monkeypatch.setattr(router_data, "handwritten_sets", lambda: {"router_x": written})
    paths = router_data.write_splits(
        tmp_path, tmp_path / "out", seed=1, sizes={"train": 1000, "dev": 0}, written_dir=tmp_path / "none"
    )
    prompts = {plain(json.loads(line)["prompt"]) for line in paths["train"].read_text().splitlines()}
    assert "good night" in prompts
    assert not prompts & {"hi", "cheers mate"}
    assert paths["dev"].read_text() == ""


def test_passages_and_review_sentences_of_one_context_stay_in_one_split(tmp_path: Path, models_dir: Path) -> None:
    reviews = [
        f"We stayed in room {i}. Room {i} was absolutely wonderful, a perfect and delightful stay." for i in range(30)
    ]
    rows: dict[str, list[dict[str, object]]] = {
        "sentiment/sst2/train.jsonl.gz": [{"text": "a warm , funny and moving film", "label": 1}],
        "qa/squadshifts_amazon/train.jsonl.gz": [{"question": "Why?", "context": c} for c in reviews],
        "intent/clinc150/train.jsonl.gz": [{"text": "set an alarm", "intent": "alarm", "domain": "utility"}],
    }
    for name in ("qa/squadshifts_new_wiki", "qa/qed_nq", "qa/squadshifts_reddit", "qa/subjqa"):
        rows[f"{name}/train.jsonl.gz"] = []
    for name, records in rows.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in records)
    splits = {s: SubjectPools.from_data_dir(tmp_path, s, models_dir / "sentiment") for s in ("train", "dev", "test")}
    assert sum(len(p.reviews) for p in splits.values()) == len(reviews)
    for split, pools in splits.items():
        assert all(any(review in passage for passage in pools.passages) for review in pools.reviews), split
        others = [p for other, o in splits.items() if other != split for p in o.passages]
        assert not [r for r in pools.reviews if any(r in passage for passage in others)], split


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


def _write_rows(path: Path, rows: Sequence[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_written_prompts_keep_their_tasks_and_targets_and_label_no_subject(tmp_path: Path) -> None:
    rows = [
        {"prompt": "gist? and is he cross", "tasks": ["summarize", "sentiment"], "context": "Dear all, ..."},
        {"prompt": "need the order number", "tasks": ["qa"], "targets": {}, "context": "Order 5521 ..."},
        {"prompt": "ugh my train is late AGAIN", "tasks": ["sentiment"], "targets": {"sentiment": "subject"}},
    ]
    rows[0]["targets"] = {"sentiment": "context", "summarize": "context"}
    _write_rows(tmp_path / "a.jsonl", rows)
    first, second, third = written_examples(tmp_path)
    assert first.tasks == ["sentiment", "summarize"] and first.has_context
    assert first.targets == {"sentiment": "context", "summarize": "context"}
    assert second.tasks == ["qa"] and second.targets == {} and second.has_context
    assert third.targets == {"sentiment": "subject"} and not third.has_context
    assert not any(e.subject_labelled for e in (first, second, third))
    assert written_examples(tmp_path / "missing") == []


@pytest.mark.parametrize(
    "row",
    [
        {"prompt": "translate this", "tasks": ["translate"], "targets": {}},
        {"prompt": "how does it feel", "tasks": ["sentiment"], "targets": {}},
        {"prompt": "when is it", "tasks": ["qa"], "targets": {"qa": "subject"}},
        {"prompt": "sum it up", "tasks": ["summarize"], "targets": {"summarize": "context"}},
    ],
)
def test_a_written_record_with_an_unknown_skill_or_a_target_that_does_not_fit_is_refused(
    tmp_path: Path, row: dict[str, object]
) -> None:
    _write_rows(tmp_path / "bad.jsonl", [{"prompt": "hello", "tasks": [], "targets": {}}, row])
    with pytest.raises(ValueError, match=r"bad\.jsonl: record 2"):
        written_examples(tmp_path)


def test_the_training_split_holds_copies_of_each_written_prompt_and_no_evaluation_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        SubjectPools, "from_data_dir", classmethod(lambda cls, data_dir, split, opinion_model=None: POOLS)
    )
    monkeypatch.setattr(router_data, "handwritten_sets", lambda: {"router_x": [{"prompt": "Cheers!", "tasks": []}]})
    written = [
        {
            "prompt": "my landlord STILL hasn't fixed the boiler",
            "tasks": ["sentiment"],
            "targets": {"sentiment": "subject"},
        },
        {"prompt": "cheers", "tasks": [], "targets": {}},
    ]
    _write_rows(tmp_path / "written" / "w.jsonl", written)
    sizes = {"train": 50, "dev": 50}
    paths = router_data.write_splits(tmp_path, tmp_path / "out", seed=3, sizes=sizes, written_dir=tmp_path / "written")
    train = [json.loads(line) for line in paths["train"].read_text().splitlines()]
    dev = paths["dev"].read_text()
    boiler = [r for r in train if r["prompt"] == written[0]["prompt"]]
    assert len(boiler) == WRITTEN_REPEAT and not boiler[0]["subject_labelled"]
    assert all(r["subject_labelled"] for r in train if r["prompt"] != written[0]["prompt"])
    assert not [r for r in train if r["prompt"] == "cheers"], "a piece of an evaluation prompt is never trained on"
    assert "boiler" not in dev


def _runs_of(text: str, size: int) -> set[str]:
    words = plain(text).split()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return [text for item in items for text in _strings(item)]


def _shared_data_runs_among(runs: set[str], size: int) -> set[str]:
    """The runs of `size` words in `runs` that some text in ../shared/data also holds."""
    first = {run.split()[0] for run in runs}
    found = set()
    for path in sorted(SHARED_DATA.rglob("*.jsonl*")):
        with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as lines:
            for line in lines:
                for text in _strings(json.loads(line)):
                    words = plain(text).split()
                    for i in range(len(words) - size + 1):
                        if words[i] in first and (run := " ".join(words[i : i + size])) in runs:
                            found.add(run)
    return found


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="needs ../shared/data beside the checkout")
def test_no_committed_hand_written_prompt_or_context_copies_a_text_from_the_shared_data() -> None:
    # Given every committed written and evaluation prompt and context, cut into runs of 12 words (eight-word runs
    # also match idioms such as "it's not the end of the world"), and one run of a shared text as a control
    ours = [e.prompt for e in written_examples()]
    ours += [text for rows in handwritten_sets().values() for row in rows for text in _strings(row)]
    runs = {run for text in ours for run in _runs_of(text, 12)}
    with gzip.open(next(iter(sorted(SHARED_DATA.rglob("*.jsonl.gz")))), "rt") as lines:
        control = next(run for line in lines for text in _strings(json.loads(line)) for run in _runs_of(text, 12))
    # When the shared data is searched for them
    found = _shared_data_runs_among(runs | {control}, 12)
    # Then only the control is there: the project's prompts are its own, not copies of ../shared/data
    assert found == {control}


def test_the_committed_written_prompts_share_no_eight_word_run_with_an_evaluation_prompt() -> None:
    examples = written_examples()
    assert len(examples) >= 500
    evaluated = {run for rows in handwritten_sets().values() for row in rows for run in _runs_of(row["prompt"], 8)}
    shared = [e.prompt[:60] for e in examples if _runs_of(e.prompt, 8) & evaluated]
    assert not shared
    labels: dict[tuple[str, bool], set[tuple[tuple[str, ...], tuple[tuple[str, str], ...]]]] = {}
    for e in examples:
        labels.setdefault((plain(e.prompt), e.has_context), set()).add((tuple(e.tasks), tuple(e.targets.items())))
    assert not [prompt for prompt, seen in labels.items() if len(seen) > 1], "a prompt is labelled one way"
    assert {tuple(e.tasks) for e in examples} >= {(), ("sentiment",), ("qa",), ("summarize",)}


def test_generation_is_reproducible_from_the_seed() -> None:
    first = [e.prompt for e in generate(POOLS, 50, seed=7, held_out=True)]
    again = [e.prompt for e in generate(POOLS, 50, seed=7, held_out=True)]
    assert first == again
    assert first != [e.prompt for e in generate(POOLS, 50, seed=8, held_out=True)]


def _of_kind(kind: str, count: int = 400, held_out: bool = False) -> list[RouterExample]:
    rng = random.Random(5)
    return [router_data._example(kind, POOLS, rng, held_out) for _ in range(count)]


def _subject(example: RouterExample) -> str:
    return example.prompt[example.subject_start : example.subject_end]


def _asks(text: str) -> bool:
    """Whether `text` is one of the pools' questions, whatever its casing and end punctuation."""
    return bool(text) and any(plain(text) == plain(q) for q in POOLS.questions)


def _yes_no(text: str) -> bool:
    """Whether `text` is a question to answer yes or no ("can kids get into the museum for free")."""
    return bool(re.match(r"(is|are|was|do|does|can|will)\b", text.strip(), re.IGNORECASE))


def _looks_up(text: str) -> bool:
    """Whether `text` asks for a thing in a text ("whats their order number", "who signed it")."""
    words = f" {plain(text)} "
    return bool(text) and any(f" {plain(w)} " in words for w in (*INFO_FIELDS, *INFO_WHO))


def _asked(text: str) -> bool:
    return _asks(text) or _looks_up(text)


def test_the_kind_shares_sum_to_one_and_include_the_v14_kinds() -> None:
    assert sum(router_data.KINDS.values()) == pytest.approx(1.0)
    assert {"statement_question", "event_report", "writer_feeling", "noisy"} <= set(router_data.KINDS)
    assert min(router_data.KINDS.values()) >= 0.015


def test_a_question_typed_as_a_statement_or_without_its_mark_is_qa_on_the_question() -> None:
    # Given questions typed with no question mark ("wondering if the pool is open on sundays")
    examples = _of_kind("statement_question")
    leads = {lead.lower() for lead in [*QA_LEADS, *router_wording.STATEMENT_LEADS]}
    for example in examples:
        # Then each is QA alone, with the question or the clause after the lead as the subject
        assert example.tasks == ["qa"], example.prompt
        assert "?" not in example.prompt
        assert _subject(example).strip()
        lead = example.prompt[: example.subject_start].strip().lower()
        assert not lead or lead in leads, example.prompt
    # And some are bare yes/no questions, some a lead and a clause
    assert any(e.subject_start == 0 for e in examples)
    assert any(e.subject_start > 0 for e in examples)


def test_a_copula_question_turns_into_statement_order_only_where_that_reads_well() -> None:
    assert router_data._declarative("What is the capital of France?") == "what the capital of France is"
    assert router_data._declarative("how long was the war") == "how long the war was"
    assert router_data._declarative("Where is the tower located?") is None
    assert router_data._declarative("What is the film about?") is None
    assert router_data._declarative("When did the bridge open?") is None


def test_a_bare_event_report_is_sentiment_only_on_the_whole_prompt() -> None:
    # Given reports of what happened with no instruction ("the bus didn't turn up for the third day running")
    examples = _of_kind("event_report")
    for example in examples:
        # Then they go to sentiment alone, on the whole prompt, never to QA
        assert example.tasks == ["sentiment"], example.prompt
        assert example.targets == {"sentiment": "subject"}
        assert _subject(example) == example.prompt
    # And a question among them is a rhetorical one, the feeling said beside it or what happened told before it
    closers = (*VENTING_CLOSERS, *GUSHING_CLOSERS)
    venting = [e.prompt for e in examples if "?" in e.prompt]
    assert venting
    for prompt in venting:
        told_first = len(re.split(r"(?<=[.!])\s+", prompt.strip())) >= 2
        assert told_first or any(plain(c) in plain(prompt) for c in closers), prompt
    # And stances ("I'm sick of ...") come with the events
    prompts = " | ".join(e.prompt.lower() for e in examples)
    assert "sick of" in prompts or "can't stand" in prompts or "can't believe how" in prompts


def test_a_question_about_how_the_writer_feels_is_sentiment_of_the_context_not_qa() -> None:
    # Given questions about a text's writer ("is the customer angry in this email?")
    examples = _of_kind("writer_feeling", 600)
    asked = [e for e in examples if not _asked(_subject(e))]
    for example in asked:
        # Then they are sentiment alone: of the context, or of the text quoted in the prompt
        assert example.tasks == ["sentiment"], example.prompt
        quoted = any(o in example.prompt for o in POOLS.opinions)
        assert example.targets == {"sentiment": "subject" if quoted else "context"}, example.prompt
    assert {e.targets["sentiment"] for e in asked} == {"subject", "context"}
    # And a question asked beside one is QA's subject, with the sentiment still on the context
    with_question = [e for e in examples if e not in asked]
    assert with_question
    for example in with_question:
        assert example.tasks == ["sentiment", "qa"] and example.targets == {"sentiment": "context"}
        assert _asked(_subject(example))


@pytest.mark.parametrize("reference", ["the review", "the article", "the doc", "the transcript", "the comment"])
def test_a_short_reference_to_an_attached_text_sends_each_skill_to_the_context(reference: str) -> None:
    examples = [e for e in _of_kind("attached", 6000) if f" {reference} " in f" {plain(e.prompt)} "]
    task_sets = {tuple(e.tasks) for e in examples}
    assert {("sentiment",), ("summarize",), ("sentiment", "summarize")} <= task_sets, reference
    for example in examples:
        assert set(example.targets.values()) == {"context"}, example.prompt
        assert ("qa" in example.tasks) == _asked(_subject(example))


def test_a_noisy_instruction_before_a_statement_asks_for_no_answer() -> None:
    # Given misspelt and text-speak instructions before a text ("analyze sentimant: the food was cold")
    examples = _of_kind("noisy", 800)
    for example in examples:
        subject = _subject(example)
        # Then QA is chosen only when the text is a question, and the text is the subject
        assert ("qa" in example.tasks) == _asks(subject), example.prompt
        assert example.prompt.endswith(subject)
    # And some are in capitals, summarise requests among them, with no QA
    shouted = [e for e in examples if e.prompt.isupper() and "summarize" in e.tasks]
    assert shouted and all("qa" not in e.tasks for e in shouted)


def test_misspellings_and_text_speak_keep_their_held_out_variants_for_the_test_split() -> None:
    for word, spellings in router_wording.NOISY_WORDS.items():
        assert not set(split_phrasings(spellings, True)) & set(split_phrasings(spellings, False)), word
    variants = router_wording.NOISY_WORDS["sentiment"]
    seen = {
        split: {router_data._noisy("the sentiment", random.Random(i), split) for i in range(200)}
        for split in (False, True)
    }
    for split, texts in seen.items():
        articles = [*split_phrasings(router_wording.NOISY_WORDS["the"], split), "the"]
        spellings = [*split_phrasings(variants, split), "sentiment"]
        assert texts <= {f"{a} {s}" for a in articles for s in spellings}, split
    assert "the sentimnet" in seen[False]


def test_held_out_statement_leads_and_noisy_instructions_reach_only_the_test_split() -> None:
    def prompts(held_out: bool) -> str:
        kinds = ("statement_question", "noisy")
        return " | ".join(plain(e.prompt) for k in kinds for e in _of_kind(k, 1500, held_out))

    train, test = prompts(False), prompts(True)
    lists = ("STATEMENT_LEADS", "NOISY_SENTIMENT", "NOISY_SUMMARIZE", "NOISY_SUMMARIZE_SENTIMENT", "NOISY_QA")
    held = [w for name in lists for w in split_phrasings(getattr(router_wording, name), True)]
    for wording in map(plain, held):
        assert f"| {wording} " not in f"| {train}", wording
    assert any(f"| {plain(w)} " in f"| {test}" for w in held)


def test_long_prompts_carry_every_multi_skill_request_at_either_end_within_what_the_router_reads() -> None:
    # Given long texts with their requests
    low, _ = router_data.LONG_WORDS
    rng = random.Random(4)
    text = router_data._long_text(POOLS, rng)
    assert len(text.split()) >= low
    sides: dict[tuple[str, ...], set[str]] = {}

    def pick(items: Sequence[str]) -> str:
        return rng.choice(split_phrasings(items, held_out=False))

    for _ in range(3000):
        example = router_data._long_example(text, "When did the bridge open?", pick, rng, held_out=False)
        at = example.prompt.find(text[:40])
        before, after = example.prompt[:at], example.prompt[at + len(text) :]
        # Then the request sits in the head or the tail of the prompt, where the router reads
        assert len(before.split()) <= 40 and len(after.split()) <= 40, example.prompt[:200]
        side = "before" if before.strip(" \n\"'\u201c\u201d\u00ab") else "after"
        sides.setdefault(tuple(example.tasks), set()).add(side)
    # And every request of two or three skills comes both before and after the text
    for tasks in [
        ("sentiment", "qa"),
        ("sentiment", "summarize"),
        ("qa", "summarize"),
        ("sentiment", "qa", "summarize"),
    ]:
        assert sides[tasks] == {"before", "after"}, tasks


def test_a_long_sentiment_and_qa_request_between_the_text_and_its_question_tags_both_as_one_subject() -> None:
    rng = random.Random(6)
    text = router_data._long_text(POOLS, rng)
    question = "When did the bridge open?"

    def pick(items: Sequence[str]) -> str:
        return rng.choice(split_phrasings(items, held_out=False))

    examples = [router_data._long_example(text, question, pick, rng, held_out=False) for _ in range(3000)]
    between = [
        e
        for e in examples
        if e.tasks == ["sentiment", "qa"] and e.prompt.startswith(text) and e.prompt.endswith(question)
    ]
    # Some requests sit between the text and its question, and their subject runs from the text to the question
    assert between
    assert all((e.subject_start, e.subject_end) == (0, len(e.prompt)) for e in between)


def test_a_request_that_names_no_text_comes_with_a_context_and_works_on_it() -> None:
    # Given requests such as "gist?" or "good or bad?", which make sense only beside an attached text
    examples = _of_kind("unnamed_attached")
    wordings = [plain(w) for w in (*UNNAMED_SUMMARY, *UNNAMED_SENTIMENT, *UNNAMED_BOTH)]
    for example in examples:
        # Then every one is sent with a context, and sentiment and summarize read it
        assert example.has_context, example.prompt
        assert set(example.targets.values()) == {"context"}, example
        assert {"sentiment", "summarize"} & set(example.tasks)
    # And a question asked beside one is QA's subject, the rest being the request
    with_question = [e for e in examples if "qa" in e.tasks]
    assert with_question and all(_asked(_subject(e)) for e in with_question)
    assert any(plain(e.prompt) in wordings for e in examples)


def test_requests_about_an_attached_text_nearly_always_come_with_one_and_others_sometimes_do() -> None:
    examples = list(generate(POOLS, 3000, seed=4, held_out=False))
    about = [e for e in examples if e.context_skills]
    others = [e for e in examples if not e.context_skills]
    share_about = sum(e.has_context for e in about) / len(about)
    share_others = sum(e.has_context for e in others) / len(others)
    assert 0.9 <= share_about < 1.0
    assert 0.15 <= share_others <= 0.25
    # And a context sent beside a request that does not refer to it changes none of its targets
    assert all(set(e.targets.values()) <= {"subject"} for e in others)


def test_a_question_beside_a_request_about_the_attached_text_may_come_as_a_clause() -> None:
    # Given "give me a summary of the ticket and tell me what the account ID is"
    rng = random.Random(8)
    examples = [
        router_data._with_question("Summarise the email", ["summarize"], "who founded the company", rng, False)
        for _ in range(200)
    ]
    asked = [e for e in examples if "who founded the company" in e.prompt]
    clauses = [e for e in asked if not e.prompt.endswith("who founded the company")]
    # (the others ask for a thing in the text instead: "and the refund amount")
    assert all(_looks_up(_subject(e)) for e in examples if e not in asked)
    # Then QA's subject is the clause, and summarize still reads the context
    assert clauses
    for example in clauses:
        assert _subject(example) == "who founded the company", example.prompt
        assert example.tasks == ["qa", "summarize"] and example.targets == {"summarize": "context"}


def test_asking_for_a_thing_in_an_attached_text_is_qa_on_the_whole_prompt() -> None:
    # Given look-ups such as "I need the ticket number from this", sent beside a text
    examples = _of_kind("context_lookup")
    for example in examples:
        # Then they are QA alone, the whole prompt its subject, and always come with a context
        assert example.tasks == ["qa"] and example.has_context, example.prompt
        assert _subject(example) == example.prompt, example.prompt
    # (typed in a hurry, some misspell the thing they ask for)
    assert sum(_looks_up(e.prompt) for e in examples) >= 0.6 * len(examples)


def test_sums_and_friendly_words_to_the_assistant_get_no_skill() -> None:
    requests = _of_kind("request", 600)
    sums = [e for e in requests if any(c.isdigit() for c in e.prompt)]
    assert sums and all(e.tasks == [] for e in sums)
    talk = [e for e in _of_kind("small_talk", 600) if plain(e.prompt) in {plain(t) for t in ASSISTANT_TALK}]
    assert talk and all(e.tasks == [] for e in talk)


def test_a_long_review_sent_alone_is_an_opinion_and_a_question_after_it_asks_too() -> None:
    # Given long prompts when the pools hold whole reviews
    review = " ".join(["The plot drags and the acting is wooden, a real waste of a good cast."] * 12)
    pools = replace(POOLS, long_opinions=[review])
    rng = random.Random(8)
    examples = [router_data._example("long", pools, rng, held_out=False) for _ in range(1500)]

    def text_only(prompt: str) -> bool:
        return prompt == review or (
            prompt.endswith(review) and prompt.removesuffix(review).strip() in router_wording.LONG_INTROS
        )

    # Then a review sent with no request (an intro at most) is sentiment on all of it
    bare = [e for e in examples if text_only(e.prompt)]
    assert bare and all(e.tasks == ["sentiment"] and _subject(e) == e.prompt for e in bare)
    assert any(e.prompt != review for e in bare), "some say where the text came from"
    # And a review followed only by a question is sentiment and QA, one subject from the review to the question
    asked = [
        e
        for e in examples
        if review in e.prompt
        and text_only(e.prompt[: e.prompt.index(review) + len(review)])
        and _asks(e.prompt.split(review, 1)[1].strip(" \n-").removeprefix("Also, ").removeprefix("And "))
    ]
    assert asked and all(e.tasks == ["sentiment", "qa"] and _subject(e) == e.prompt for e in asked)


def test_a_question_told_inside_a_text_to_summarise_is_not_asked() -> None:
    # Given passages to summarise, some of them holding a question someone in them asked
    examples = _of_kind("summarize", count=600)
    told = [e for e in examples if any(_asks(q) for q in re.findall(r"[^.!?'\"]*\?", _subject(e)))]
    assert told and all(e.tasks == ["summarize"] for e in told)
    # Then the question sits between two of the text's sentences, never at its end, where it would read as asked
    for example in told:
        assert not _asks(re.split(r"(?<=[.!?'\"])\s+", _subject(example).strip(" '\"\u201c\u201d\u00ab\u00bb"))[-1])


def test_a_long_passage_shared_with_nothing_asked_gets_no_skill_and_a_rant_told_alone_is_an_opinion() -> None:
    # Given long prompts whose texts are passages or composed rants (no whole reviews in the pools)
    rng = random.Random(11)
    examples = [router_data._example("long", POOLS, rng, held_out=False) for _ in range(2000)]
    facts = set(re.split(r"(?<=[.!?])\s+", POOLS.passages[0]))

    def passage_only(prompt: str) -> bool:
        intro = next((i for i in router_wording.LONG_INTROS if prompt.startswith(i)), "")
        return set(re.split(r"(?<=[.!?])\s+", prompt.removeprefix(intro).strip())) <= facts

    # Then a passage sent with no request (an intro at most) gets no skill
    shared = [e for e in examples if passage_only(e.prompt)]
    assert shared and all(e.tasks == [] for e in shared)
    # And a passage with only a question after it is QA's alone
    asked = [e for e in examples if e.tasks == ["qa"]]
    assert asked and all(POOLS.passages[0][:40] in e.prompt for e in asked)
    assert all(
        any(plain(q) in plain(e.prompt) for q in POOLS.questions) or _looks_up(_subject(e)) or _yes_no(_subject(e))
        for e in asked
    )
    # And a rant sent alone, its feeling told among plain facts, is sentiment on all of it
    rants = [
        e
        for e in examples
        if e.tasks == ["sentiment"]
        and _subject(e) == e.prompt
        and any(plain(o) in plain(e.prompt) for o in POOLS.opinions)
    ]
    assert rants
    low, high = router_data.LONG_WORDS
    for rant in rants:
        assert low <= len(rant.prompt.split()) <= high + 60, rant.prompt[:200]


def test_asks_framed_around_a_long_text_are_each_a_task_and_a_note_asking_nothing_gets_none() -> None:
    # Given a long passage and a question about it, framed as people write around a pasted text
    passage = " ".join([POOLS.passages[0]] * 6)
    rng = random.Random(5)
    examples = [router_data._framed_long(passage, "When did the bridge open?", rng, False, False) for _ in range(600)]
    # Then every task set is asked, the text whole in every prompt
    assert {tuple(e.tasks) for e in examples} == {
        tuple(t for t in router_data.TASK_ORDER if t in tasks) for tasks in router_data.FRAMED_TASKS
    }
    assert all(passage in e.prompt for e in examples)
    # And QA reads its question, the other skills the text
    for example in examples:
        if "qa" in example.tasks:
            assert passage not in _subject(example) and len(_subject(example).split()) < 20, _subject(example)
        elif example.tasks:
            assert _subject(example) == passage
    # And a prompt that asks nothing, or only for a skill we do not have, gets no skill
    notes = [plain(n) for n in router_wording.FRAMED_NOTES + router_wording.OTHER]
    assert all(any(n in plain(e.prompt) for n in notes) for e in examples if not e.tasks)
    # And an opinion asked only a question is rated too
    rant = " ".join(["I waited two hours and nobody came, I am furious."] * 20)
    rated = [router_data._framed_long(rant, "When did it open?", rng, False, True) for _ in range(300)]
    assert ["qa"] not in [e.tasks for e in rated] and ["sentiment", "qa"] in [e.tasks for e in rated]


def test_two_or_three_asks_may_each_be_a_sentence_of_their_own() -> None:
    # Given a feeling ask, a question and a summary ask
    clauses = ["is Jen upset with me", "what date does she need the figures by", "give me the gist"]
    rng = random.Random(3)
    # When they are joined as typed, many times
    joined = [router_data._joined_asks(clauses[: rng.randint(2, 3)], rng) for _ in range(400)]
    # Then some prompts put each ask in a sentence of its own: a question ends with '?', a command with '.'
    separate = [j for j in joined if j.startswith("Is Jen upset with me?")]
    assert separate
    assert all("date does she need the figures by?" in j for j in separate)
    assert all(j.endswith(("by?", "Give me the gist.", "give me the gist.")) for j in separate)
    # And no ask worded as a question follows "Can you"
    assert not [j for j in joined if "Can you is" in j or "Can you what" in j]
