"""Generates labelled router prompts: instruction phrasings (`router_wording`) x subject texts from the shared data.

`train` and `dev` use the training phrasings, `test` only held-out ones, so the test split measures how the router
copes with wording it has not seen; subjects are disjoint across the three.
"""

from __future__ import annotations

import json
import random
import re
import string
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from slmesh.datasets_io import BINARY_CLASSES, iter_jsonl, read_records
from slmesh.skills.registry import registry
from slmesh.training.router_wording import (
    AFTER_JOINERS,
    ASSISTANT_TALK,
    ATTACHED,
    ATTACHED_SENTIMENT,
    ATTACHED_SHORT_BOTH,
    ATTACHED_SHORT_SENTIMENT,
    ATTACHED_SHORT_SUMMARY,
    ATTACHED_SUMMARY,
    BOTH,
    BOTH_AFTER,
    BOTH_PATTERNS,
    CONTEXT_REFERENCES,
    EMBEDDED_FRAMES,
    EVENT_FRAMES,
    EVENT_SLOTS,
    FEELING_FRAMES,
    FEELING_OBJECTS,
    FEELINGS,
    FELT_ABOUT,
    FRAMED_NOTES,
    FRAMED_REASONS,
    FRAMED_SEPARATORS,
    FRAMED_SUMMARY,
    FRAMED_WRITERS,
    GUSHING_CLOSERS,
    GUSHING_FRAMES,
    INFO_ASKS,
    INFO_FIELDS,
    INFO_WHO,
    JOINERS,
    LONG_INTROS,
    LONG_SENTIMENT_AFTER,
    LONG_SENTIMENT_BEFORE,
    LONG_SUMMARY_AFTER,
    LONG_SUMMARY_BEFORE,
    LONG_SUMMARY_SENTIMENT_AFTER,
    LONG_SUMMARY_SENTIMENT_BEFORE,
    NOISY_QA,
    NOISY_SENTIMENT,
    NOISY_SUMMARIZE,
    NOISY_SUMMARIZE_SENTIMENT,
    NOISY_WORDS,
    OPINION_CLOSERS,
    OPINION_OPENERS,
    OTHER,
    OTHER_VERBS,
    PLURAL_WRITERS,
    POLARITIES,
    POLARITY_FRAMES,
    POLITE,
    QA,
    QA_AFTER,
    QA_LEADS,
    QA_OBJECTS,
    QA_VERBS,
    QUESTION_SLOTS,
    QUOTES,
    REVIEW_QUESTIONS,
    SENTIMENT,
    SENTIMENT_AFTER,
    SENTIMENT_OBJECTS,
    SENTIMENT_VERBS,
    SMALL_TALK,
    SOURCE_FRAMES,
    STANCE_FRAMES,
    STATEMENT_LEADS,
    SUMMARIZE,
    SUMMARIZE_AFTER,
    SUMMARIZE_OBJECTS,
    SUMMARIZE_SENTIMENT,
    SUMMARIZE_SENTIMENT_AFTER,
    SUMMARIZE_VERBS,
    UNNAMED_BOTH,
    UNNAMED_SENTIMENT,
    UNNAMED_SUMMARY,
    VENTING_CLOSERS,
    VENTING_FRAMES,
    WRITERS,
    YES_NO_FRAMES,
    plain,
    split_phrasings,
)

Row = TypeVar("Row")

LONG_WORDS = (150, 400)
LONG_OPINION_SHARE = 0.4
"""Share of long prompts whose text is an opinion: a whole review (IMDB) or, as often, a rant or a rave told in the
first person (`_long_rant`); the rest are passages, which people also ask about and summarise."""
LONG_BARE_SHARE = 0.45
"""Share of those opinions sent with no request (sentiment, as a short opinion is) or with only a question after
them (sentiment and QA)."""
LONG_NEUTRAL_BARE_SHARE = 0.12
"""Share of the other long texts (passages) sent with nothing asked, an intro at most: a text shared with no request
and no feeling in it gets no skill."""
LONG_ASKED_SHARE = 0.15
"""Share of those passages sent with only a question about them (QA): without it a question after a long text would
mostly follow a rant, and read as sentiment's too."""
RANT_PIECES = {"passage": 0.3, "event": 0.25, "venting": 0.15, "opinion": 0.3}
"""What a composed rant's sentences are drawn from: facts of what happened (passage sentences), reports with the
feeling implied, venting questions, and opinion sentences (confident review sentences, else SST-2's)."""
LONG_INTRO_SHARE = 0.4
"""Share of long texts that a sentence saying where the text came from (`LONG_INTROS`) comes before."""
FRAMED_SHARE = 0.35
"""Share of the long texts that come with their asks framed as people write them around a pasted text
(`_framed_long`), of those not sent bare."""
FRAMED_TASKS: tuple[tuple[str, ...], ...] = (
    ("summarize",),
    ("sentiment",),
    ("qa",),
    ("sentiment", "summarize"),
    ("qa", "summarize"),
    ("qa", "sentiment"),
    ("qa", "sentiment", "summarize"),
    (),
)
SEPARATE_ASKS_SHARE = 0.3
"""Share of framed requests with two or three asks that put each ask in a sentence of its own."""
LONG_OPINIONS = 4000
BETWEEN_SHARE = 0.35
"""Share of long sentiment + QA requests put between the text and its question instead of before or after both."""
TYPO_SHARE = 0.3
QUOTED_QUESTION_SHARE = 0.3
"""Share of the texts to summarise or rate (long ones, and short passages to summarise) of two sentences or more that
hold a question someone in them asked, between two of their sentences: a question inside a text is no request to
answer it."""
QUOTED_QUESTION_FRAMES = (
    "{q}",
    "My first thought was: {q}",
    "She asked me, '{q}'",
    "Someone asked {q} and nobody knew.",
    "The obvious question is {q}",
    'He kept asking "{q}"',
    "I wondered {q}",
    "We were all asking ourselves: {q}",
)
VENTING_SHARE = 0.3
INFO_ASK_SHARE = 0.2
"""Share of the questions asked beside another request that ask for a thing in the text ("and the order number")."""
INFO_OWNERS = ("the", "the", "their", "his", "her", "its", "my", "the customer's")
INFO_SOURCES = ("", "", "", " from this", " from it", " in there", " from the {d}", " in the {d}", " on the {d}")
INFO_DOCUMENTS = (
    "email",
    "letter",
    "confirmation",
    "ticket",
    "invoice",
    "notice",
    "message",
    "form",
    "text",
    "booking",
)
ARITHMETIC = (
    "what's {a} {o} {b}?",
    "calculate {a} {o} {b}",
    "how much is {a} {o} {b}",
    "{a} {o} {b} = ?",
    "work out {a} {o} {b}",
)
OPERATORS = ("times", "divided by", "plus", "minus", "x", "*", "/", "+", "-", "multiplied by")
"""Share of the event reports told as a rhetorical question with the feeling beside it (`_venting`)."""
NOISY_SHARE = 0.15
"""Share of requests about an attached text typed with real misspellings and text-speak (`_noisy`)."""
SHOUT_SHARE = 0.2
"""Share of the noisy kind's prompts typed all in capitals."""
ATTACHED_JOINERS = (". Also, ", ", and ", " + ", "? And ", ". ", "\n")
ATTACHED_QUESTION_SHARE = 0.3
ATTACHED_CONTEXT_SHARE = 0.95
"""Share of requests about an attached text sent with one: a user may forget to attach it, and the request still asks
for it (the orchestration then falls back to the subject)."""
OTHER_CONTEXT_SHARE = 0.2
"""Share of the other prompts sent with a context: a text attached beside a request that does not refer to it
changes neither the skills nor their targets."""
STATEMENT_ENDS = ("", "", ".", ".", "!", "...", " thanks")
"""How a question typed as a statement ends: never with a question mark."""
AFTER_QUESTION = (" Also, ", " And ", "\n", " - ")
RANT_QUESTION_JOINERS = (" ", "\n\n", *AFTER_QUESTION)
HANDWRITTEN_DIR = Path(__file__).resolve().parents[3] / "training" / "eval"
"""Prompts written by hand in the source checkout; router cards report them, training never reads them."""
WRITTEN_DIR = Path(__file__).resolve().parents[3] / "training" / "written"
"""Training prompts written by hand, in the evaluation sets' schema, by writers who never read those sets."""
WRITTEN_REPEAT = 3
"""How many copies of each written prompt the training split holds: a few hundred prompts among 24,000 generated
ones would otherwise weigh almost nothing."""

# CLINC150 questions about the world are questions to answer; the rest of CLINC (bank balance, alarms, music) are
# requests to an assistant and route to no skill.
INFO_INTENTS = frozenset(
    {
        "weather",
        "international_visa",
        "plug_type",
        "timezone",
        "vaccines",
        "carry_on",
        "calories",
        "nutrition_info",
        "cook_time",
        "food_last",
        "ingredient_substitution",
        "definition",
        "distance",
        "gas_type",
        "oil_change_how",
        "jump_start",
        "tire_change",
        "traffic",
        "how_busy",
    }
)
TOOL_INTENTS = frozenset({"calculator", "translate", "spelling", "roll_dice", "flip_coin", "time", "date", "what_song"})
"""CLINC150 intents whose questions need a tool we do not have ("what's 5 times 6", "how do you say hi in French")."""
MODAL_REQUEST = re.compile(r"^(can|could|will|would|may)\b", re.IGNORECASE)


def _is_lookup(row: dict[str, Any]) -> bool:
    """A CLINC150 question that looks something up ("how do i create a meeting", "what is my credit limit"): a bare
    question is QA's, which answers from the knowledge base or says it does not know. "Can you book me a table" is a
    command phrased as a question, and questions to the assistant itself are small talk."""
    text = row["text"]
    return (
        row["domain"] != "small_talk"
        and row["intent"] not in TOOL_INTENTS
        and _is_question(text)
        and not MODAL_REQUEST.match(text.strip())
    )


PASSAGE_FILES = ("squadshifts_new_wiki", "squadshifts_amazon", "squadshifts_reddit")
REVIEW_FILES = ("subjqa", "squadshifts_amazon")
OPINION_CONFIDENCE = 0.955
"""Share of the two poles' calibrated probabilities the chosen pole needs for a review sentence to count as an
opinion (a binary model's score; a three-class model spreads probability over neutral too, so its score alone would
reject nearly every sentence): neutral ones ("I bought it in May") score lower with the binary model and are labelled
neutral by a three-class one."""
REVIEW_SHARE = 0.4
TASK_ORDER = registry.names()
QUESTION_START = re.compile(
    r"^(who|what|when|where|why|how|which|whom|whose|is|are|was|were|do|does|did|can|could|will|would|"
    r"should|has|have|had)\b",
    re.IGNORECASE,
)
COPULA_QUESTION = re.compile(
    r"^(what|who|where|how (?:much|old|long|big|far|tall|deep|high)) (is|are|was|were) "
    r"((?:the|a|an|his|her|their|its) [^?]+?)\s*\??$",
    re.IGNORECASE,
)
STRANDED = frozenset(
    {"about", "of", "for", "to", "from", "in", "on", "at", "with", "by", "like", "called", "made", "known", "born"}
    | {"found", "held", "set", "shot", "written", "taken", "given", "seen", "shown", "chosen"}
)
"""Last words (prepositions, participles) that a copula question cannot end on once the verb moves to the end."""
NOISY_WORD = re.compile(
    r"(?<![\w'&+])(" + "|".join(map(re.escape, sorted(NOISY_WORDS, key=len, reverse=True))) + r")(?![\w'])",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RouterExample:
    prompt: str
    tasks: list[str]
    subject_start: int
    subject_end: int
    context_skills: list[str] = field(default_factory=list)
    """The tasks that work on the request's attached context rather than on the subject."""
    has_context: bool = False
    """The request sends a context beside the prompt (the router reads a marker after the prompt)."""
    subject_labelled: bool = True
    """False where the writer gave no subject span (written prompts): the tagger learns nothing from the prompt."""
    targets: dict[str, str] = field(init=False)
    """Per task that reads one text, "context" or "subject": the form `slmesh eval router` scores."""

    def __post_init__(self) -> None:
        one_text = [t for t in self.tasks if (spec := registry.spec(t)) is None or spec.fixed_target is None]
        targets = {t: "context" if t in self.context_skills else "subject" for t in one_text}
        object.__setattr__(self, "targets", targets)


def _question(text: str, rng: random.Random) -> str:
    text = text.strip().rstrip("?").strip()
    if rng.random() < 0.25:
        return text.lower()
    if rng.random() < 0.6:
        text = text[:1].upper() + text[1:]
    return text + ("?" if rng.random() < 0.8 else "")


def _surface(text: str, rng: random.Random) -> str:
    """Casing and end punctuation as people type them, whatever the label: neither may give the label away.

    CLINC150 requests arrive lower-cased without a question mark while dataset questions mostly carry one.
    """
    text = text.strip()
    roll = rng.random()
    if roll < 0.3:
        return text.lower().rstrip(".!?")
    if roll < 0.7:
        end = "?" if _is_question(text) and rng.random() < 0.8 else rng.choice(["", ".", "!"])
        return text[:1].upper() + text[1:].rstrip(".!?") + end
    return text


def _opening(passage: str, rng: random.Random) -> str:
    """The first one to three sentences: long enough to want a summary, short enough to train on quickly."""
    sentences = re.split(r"(?<=[.!?])\s+", passage.strip())
    return " ".join(sentences[: rng.randint(1, 3)])


def _is_question(text: str) -> bool:
    return text.rstrip().endswith("?") or bool(QUESTION_START.match(text.strip()))


@dataclass
class SubjectPools:
    opinions: list[str]
    questions: list[str]
    passages: list[str]
    requests: list[str]
    chatter: list[str]
    info_questions: list[str] = field(default_factory=list)
    reviews: list[str] = field(default_factory=list)
    long_opinions: list[str] = field(default_factory=list)
    wh_questions: list[str] = field(init=False)

    def __post_init__(self) -> None:
        # Only questions that start like one read well as a clause after "tell me".
        self.wh_questions = [q for q in self.questions if QUESTION_START.match(q.strip())]

    @classmethod
    def from_data_dir(cls, data_dir: Path, split: str, opinion_model: Path | None = None) -> SubjectPools:
        """`split` picks disjoint rows: train subjects never appear in dev or test prompts.

        With `opinion_model` (a sentiment model folder), review sentences it is sure about join the opinions:
        SST-2 alone teaches that only film criticism is an opinion.
        """
        sst2 = [r["text"] for r in iter_jsonl(data_dir / "sentiment/sst2/train.jsonl.gz")]
        sst2 = [t for t in sst2 if len(t.split()) >= 6]
        questions = [r["question"] for r in iter_jsonl(data_dir / "qa/squadshifts_new_wiki/train.jsonl.gz")]
        questions += [r["question"] for r in iter_jsonl(data_dir / "qa/qed_nq/train.jsonl.gz")]
        questions += [r["question"] for r in iter_jsonl(data_dir / "qa/squadshifts_reddit/train.jsonl.gz")]
        part = {"train": 0, "dev": 1, "test": 2}[split]
        # Wikipedia, Amazon reviews and Reddit posts: people summarise and ask about all three.
        passages = _contexts(data_dir, PASSAGE_FILES, part)

        def take(rows: list[Row]) -> list[Row]:
            return [r for i, r in enumerate(rows) if i % 10 in ((0, 1, 2, 3, 4, 5, 6, 7), (8,), (9,))[part]]

        # CLINC150 rows are split once, before they feed two pools, so no row reaches two splits.
        clinc = take(list(iter_jsonl(data_dir / "intent/clinc150/train.jsonl.gz")))
        info = [r["text"] for r in clinc if r["intent"] in INFO_INTENTS or _is_lookup(r)]
        requests = [r["text"] for r in clinc if r["intent"] not in INFO_INTENTS and not _is_question(r["text"])]
        # Questions to the assistant itself ("how are you", "are you a bot") are chatter, not questions to answer.
        chatter = [r["text"] for r in clinc if r["domain"] == "small_talk"]
        reviews = _confident_opinions(_review_sentences(data_dir, part), opinion_model) if opinion_model else []
        long_opinions = _long_reviews(data_dir, part)
        return cls(take(sst2), take(questions), passages, requests, chatter, info, reviews, long_opinions)


def _split_of(text: str) -> int:
    """0 (train, 8 in 10), 1 (dev) or 2 (test), fixed by the text itself, so that one context lands in the same split
    whether it feeds the passages or the review sentences."""
    bucket = zlib.crc32(text.encode("utf-8")) % 10
    return 0 if bucket < 8 else bucket - 7


def _contexts(data_dir: Path, names: Sequence[str], part: int) -> list[str]:
    rows = (r["context"] for name in names for r in iter_jsonl(data_dir / f"qa/{name}/train.jsonl.gz"))
    return [c for c in dict.fromkeys(rows) if _split_of(c) == part]


def _long_reviews(data_dir: Path, part: int) -> list[str]:
    """IMDB reviews of `LONG_WORDS` words, markup removed: the first `LONG_OPINIONS` of the split."""
    path = data_dir / "sentiment/imdb/train.jsonl.gz"
    if not path.is_file():
        return []
    kept: list[str] = []
    for row in iter_jsonl(path):
        text = re.sub(r"\s+", " ", re.sub(r"<br\s*/?>", " ", row["text"])).strip()
        if LONG_WORDS[0] <= len(text.split()) <= LONG_WORDS[1] and _split_of(text) == part:
            kept.append(text)
            if len(kept) == LONG_OPINIONS:
                break
    return kept


def _review_sentences(data_dir: Path, part: int) -> list[str]:
    sentences = (s.strip() for c in _contexts(data_dir, REVIEW_FILES, part) for s in re.split(r"(?<=[.!?])\s+", c))
    return list(dict.fromkeys(s for s in sentences if 5 <= len(s.split()) <= 25))


def _confident_opinions(sentences: list[str], model_dir: Path) -> list[str]:
    """One sentence per call: dynamic int8 would otherwise make a sentence's score depend on its batch."""
    from slmesh.runtime import load_bundle
    from slmesh.skills.sentiment import SentimentSkill

    skill = SentimentSkill.from_bundle(load_bundle(model_dir, "sentiment", verify=False))
    results = ((s, skill.predict([s])[0]) for s in sentences)
    return [
        s
        for s, r in results
        if r.label in BINARY_CLASSES
        and r.scores[r.label] / sum(r.scores[c] for c in BINARY_CLASSES) >= OPINION_CONFIDENCE
    ]


def _render(before: str, subject: str, after: str, rng: random.Random) -> tuple[str, int, int]:
    left, right = rng.choice(QUOTES)
    joiner = rng.choice(JOINERS) if before else ""
    head = f"{before}{joiner}{left}"
    prompt = f"{head}{subject}{right}"
    start, end = len(head), len(head) + len(subject)
    if after:
        prompt = prompt + rng.choice(AFTER_JOINERS) + after
    return prompt, start, end


def _polish(text: str, rng: random.Random) -> str:
    polite = rng.choice(POLITE)
    asks = polite.strip().endswith(("you", "Can you", "Could you", "Would you"))
    text = polite + text
    end = "?" if asks and rng.random() < 0.7 else rng.choice([":", ":", ".", "", " -"])
    return text[:1].upper() + text[1:] + end


def _composed(kind: str, rng: random.Random, held_out: bool) -> str:
    def verb(items: Sequence[str]) -> str:
        return rng.choice(split_phrasings(items, held_out))

    if kind == "sentiment":
        return _polish(f"{verb(SENTIMENT_VERBS)} {rng.choice(SENTIMENT_OBJECTS)}", rng)
    if kind == "qa":
        return _polish(f"{verb(QA_VERBS)} {rng.choice(QA_OBJECTS)}", rng)
    if kind == "both":
        pattern = rng.choice(BOTH_PATTERNS)
        return _polish(
            pattern.format(
                s=verb(SENTIMENT_VERBS),
                so=rng.choice(SENTIMENT_OBJECTS),
                q=verb(QA_VERBS),
                qo=rng.choice(QA_OBJECTS),
            ),
            rng,
        )
    if kind == "summarize":
        return _polish(f"{verb(SUMMARIZE_VERBS)} {rng.choice(SUMMARIZE_OBJECTS)}", rng)
    return _polish(f"{verb(OTHER_VERBS)} {rng.choice(SENTIMENT_OBJECTS)}", rng)


def _polarity_question(rng: random.Random, held_out: bool, about: str | None = None) -> str:
    a, b = rng.choice(split_phrasings(POLARITIES, held_out))
    if rng.random() < 0.5:
        a, b = b, a
    about = about or rng.choice(SENTIMENT_OBJECTS)
    text = rng.choice(split_phrasings(POLARITY_FRAMES, held_out)).format(o=about, a=a, b=b)
    return text[:1].upper() + text[1:]


def _as_clause(question: str) -> str:
    """'When did the bridge open?' -> 'when did the bridge open', to follow 'tell me'."""
    clause = question.strip().rstrip("?").strip()
    return clause[:1].lower() + clause[1:]


def _cased_opinion(opinion: str, rng: random.Random) -> str:
    text = opinion.strip()
    if rng.random() < 0.6:
        text = text[:1].upper() + text[1:]
        text = re.sub(r" ([,.!?;:])", r"\1", text).replace(" n't", "n't").replace(" 's", "'s")
    opener = rng.choice(OPINION_OPENERS)
    if opener:
        text = opener + (text if text.startswith(("I ", "I'")) else text[:1].lower() + text[1:])
    return (text.rstrip(" .") + rng.choice(OPINION_CLOSERS)) if rng.random() < 0.7 else text


def _fill(frame: str, slots: Mapping[str, Sequence[str]], rng: random.Random, held_out: bool, **fixed: str) -> str:
    """`frame` with each {slot} given in `fixed` or drawn from its list; fillers split like phrasings, so the test
    split's templated subjects are its own."""
    names = dict.fromkeys(name for _, name, _, _ in string.Formatter().parse(frame) if name)
    values = {n: fixed[n] if n in fixed else rng.choice(split_phrasings(slots[n], held_out)) for n in names}
    return frame.format(**values)


def _shouted(text: str) -> str:
    """All capitals, unless that changes the length ("ß" -> "SS") and so would move the subject's offsets."""
    upper = text.upper()
    return upper if len(upper) == len(text) else text


def _typed(text: str, rng: random.Random, ends: Sequence[str]) -> str:
    """Lower case, a capital first letter or, now and then, all capitals; then one of `ends`. Offsets stay put."""
    roll = rng.random()
    if roll < 0.35:
        lower = text.lower()
        text = lower if len(lower) == len(text) else text
    elif roll < 0.93:
        text = text[:1].upper() + text[1:]
    else:
        text = _shouted(text)
    return text + rng.choice(ends)


def _declarative(question: str) -> str | None:
    """'What is the capital of Peru?' -> 'what the capital of Peru is', the order a question takes after "tell me";
    None where moving the verb would garble it ("where is it located", "who is the king")."""
    match = COPULA_QUESTION.match(question.strip())
    if not match:
        return None
    wh, verb, rest = match.groups()
    words = [w.lower() for w in rest.split()]
    if len(words) > 12 or words[-1] in STRANDED or any(w.endswith(("ed", "ing")) for w in words):
        return None
    return f"{wh.lower()} {rest} {verb.lower()}"


def _statement_question(pools: SubjectPools, rng: random.Random, held_out: bool) -> RouterExample:
    """A question with no question mark: a yes/no question typed bare ("is the museum open on sundays"), or a lead
    and a clause in statement order ("wondering if the pool opens tomorrow"). QA's subject is the question or the
    clause."""

    def pick(items: Sequence[str]) -> str:
        return rng.choice(split_phrasings(items, held_out))

    if rng.random() < 0.35:
        question = _fill(pick(YES_NO_FRAMES), QUESTION_SLOTS, rng, held_out)
        return RouterExample(_typed(question, rng, STATEMENT_ENDS), ["qa"], 0, len(question))
    clause = _declarative(rng.choice(pools.wh_questions)) if pools.wh_questions and rng.random() < 0.3 else None
    clause = clause or _fill(pick(EMBEDDED_FRAMES), QUESTION_SLOTS, rng, held_out)
    head = pick(rng.choice([QA_LEADS, STATEMENT_LEADS])) + " "
    return RouterExample(_typed(head + clause, rng, STATEMENT_ENDS), ["qa"], len(head), len(head) + len(clause))


def _event_report(rng: random.Random, held_out: bool) -> str:
    """What happened, told with no opinion word and no instruction ("been on hold for forty minutes"), or a stance
    ("I'm sick of ..."): the feeling is implied and nothing is asked."""
    frames = EVENT_FRAMES if rng.random() < 0.7 else STANCE_FRAMES
    return _fill(rng.choice(split_phrasings(frames, held_out)), EVENT_SLOTS, rng, held_out)


def _venting(rng: random.Random, held_out: bool) -> str:
    """'Why does the train get cancelled again? I'm so done.': a question nobody wants answered, the feeling after
    it (or before it)."""
    frames, closers = (GUSHING_FRAMES, GUSHING_CLOSERS) if rng.random() < 0.3 else (VENTING_FRAMES, VENTING_CLOSERS)
    question = _fill(rng.choice(split_phrasings(frames, held_out)), EVENT_SLOTS, rng, held_out)
    question = question[:1].upper() + question[1:]
    if frames is VENTING_FRAMES and rng.random() < 0.35:
        # "On hold for an hour again. Why do they even have a phone line?": what happened says how it feels.
        told = _event_report(rng, held_out)
        return f"{told[:1].upper()}{told[1:]}. {question}"
    closer = rng.choice(split_phrasings(closers, held_out))
    return f"{closer} {question}" if rng.random() < 0.2 else f"{question} {closer}"


def _info_ask(rng: random.Random, held_out: bool, source: bool = False) -> str:
    """'whats their order number', 'who signed it': a thing to pull out of a text; with `source`, the text named
    ("... from the email")."""
    if rng.random() < 0.2:
        ask = rng.choice(split_phrasings(INFO_WHO, held_out))
    else:
        field = rng.choice(split_phrasings(INFO_FIELDS, held_out))
        ask = rng.choice(split_phrasings(INFO_ASKS, held_out)).format(p=rng.choice(INFO_OWNERS), f=field)
    if source:
        ask += rng.choice(INFO_SOURCES).format(d=rng.choice(INFO_DOCUMENTS))
    return _typed(ask, rng, ("", "?", "?", ".", ""))


def _arithmetic(rng: random.Random) -> str:
    """Sums: a tool's job, not a question the knowledge base answers."""
    a, b = rng.randint(2, 999), rng.randint(2, 99)
    return rng.choice(ARITHMETIC).format(a=a, o=rng.choice(OPERATORS), b=b)


def _noisy(text: str, rng: random.Random, held_out: bool) -> str:
    """Words of an instruction as people misspell or shorten them ("sentimant", "n", "pls"), each half the time."""

    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        variants = split_phrasings(NOISY_WORDS[word.lower()], held_out)
        if not variants or rng.random() < 0.5:
            return word
        variant = rng.choice(variants)
        if len(word) > 1 and word.isupper():
            return variant.upper()
        return variant[:1].upper() + variant[1:] if word[:1].isupper() else variant

    return NOISY_WORD.sub(swap, text)


def _scrawled(instruction: str, rng: random.Random, held_out: bool) -> str:
    """An instruction with the slips of a quick typist: letter typos, real misspellings, no capitals or all."""
    if rng.random() < TYPO_SHARE:
        instruction = _typos(instruction, rng)
    if rng.random() < NOISY_SHARE:
        instruction = _noisy(instruction, rng, held_out)
    roll = rng.random()
    if roll < 0.2:
        return instruction.lower()
    return _shouted(instruction) if roll < 0.25 else instruction


def _noisy_request(statement: str, passage: str, question: str, rng: random.Random, held_out: bool) -> RouterExample:
    """A misspelt or text-speak instruction ("analyze sentimant:"), a fifth of them in capitals, before a text that
    asks nothing: the skills the instruction names and no QA, unless the instruction is a question's ("eli5")."""
    roll = rng.random()
    if roll < 0.5:
        lists, subject, tasks = (SENTIMENT, NOISY_SENTIMENT), statement, ["sentiment"]
    elif roll < 0.72:
        lists, subject, tasks = (SUMMARIZE, NOISY_SUMMARIZE), passage, ["summarize"]
    elif roll < 0.87:
        lists, tasks = (SUMMARIZE_SENTIMENT, NOISY_SUMMARIZE_SENTIMENT), ["sentiment", "summarize"]
        subject = rng.choice([statement, passage])
    else:
        lists, subject, tasks = (QA, NOISY_QA), question, ["qa"]
    regular, own = lists
    instruction = _noisy(rng.choice(split_phrasings(own if rng.random() < 0.6 else regular, held_out)), rng, held_out)
    head = (instruction.lower() if rng.random() < 0.5 else instruction).rstrip(" :->.\u2014")
    head += " " if head.endswith("?") else rng.choice([": ", ": ", " - ", " ", "\n", ":"])
    if rng.random() < SHOUT_SHARE:
        head, subject = _shouted(head), _shouted(subject)
    ordered = [t for t in TASK_ORDER if t in tasks]
    return RouterExample(head + subject, ordered, len(head), len(head) + len(subject))


def _feeling_ask(writer: str, plural: bool, rng: random.Random, held_out: bool) -> str:
    """A feeling frame filled for `writer`, its verbs agreeing with it ("how do users feel", "how does she feel")."""
    agreement = (
        {"does": "do", "is": "are", "was": "were", "s": ""}
        if plural
        else {"does": "does", "is": "is", "was": "was", "s": "s"}
    )
    return _fill(
        rng.choice(split_phrasings(FEELING_FRAMES, held_out)),
        {"o": FEELING_OBJECTS},
        rng,
        held_out,
        w=writer,
        **agreement,
    )


def _writer_feeling(opinion: str, question: str, rng: random.Random, held_out: bool) -> RouterExample:
    """How the writer of a text feels ("is the customer angry in this email?"): the sentiment of the attached text,
    or of the quoted one when the prompt holds it; a question about feelings, never one for QA."""

    def pick(items: Sequence[str]) -> str:
        return rng.choice(split_phrasings(items, held_out))

    plural = rng.random() < 0.3
    asked = _feeling_ask(pick(PLURAL_WRITERS if plural else WRITERS), plural, rng, held_out)
    if rng.random() < 0.25:
        return _build(_typed(asked, rng, ("?", "?", ":", "")), opinion, "", ["sentiment"], rng)
    if rng.random() < 0.65:
        asked = pick(SOURCE_FRAMES).format(q=asked, r=pick(ATTACHED))
    instruction = _scrawled(_typed(asked, rng, ("?", "?", "?", "", ".")), rng, held_out)
    if rng.random() < ATTACHED_QUESTION_SHARE / 2:
        return _with_question(instruction, ["sentiment"], question, rng, held_out)
    return RouterExample(instruction, ["sentiment"], 0, 0, ["sentiment"])


def _example(kind: str, pools: SubjectPools, rng: random.Random, held_out: bool) -> RouterExample:
    def pick(items: Sequence[str]) -> str:
        if kind in ("sentiment", "qa", "both", "other") and rng.random() < 0.5:
            return _composed(kind, rng, held_out)
        return rng.choice(split_phrasings(items, held_out))

    opinion = rng.choice(pools.reviews if pools.reviews and rng.random() < REVIEW_SHARE else pools.opinions)
    question = _question(rng.choice(pools.questions), rng)
    if kind == "sentiment":
        if rng.random() < 0.2:
            return _build("", opinion, pick(SENTIMENT_AFTER), ["sentiment"], rng)
        if rng.random() < 0.2:
            return _build(_polarity_question(rng, held_out), opinion, "", ["sentiment"], rng)
        return _build(pick(SENTIMENT), opinion, "", ["sentiment"], rng)
    if kind == "qa":
        if rng.random() < 0.15:
            return _build("", question, pick(QA_AFTER), ["qa"], rng)
        return _build(pick(QA), question, "", ["qa"], rng)
    if kind == "both":
        subject = rng.choice([question, f"{opinion.rstrip('. ')}, {question[:1].lower()}{question[1:]}"])
        if rng.random() < 0.15:
            return _build("", subject, pick(BOTH_AFTER), ["sentiment", "qa"], rng)
        return _build(pick(BOTH), subject, "", ["sentiment", "qa"], rng)
    if kind == "review_question":
        wh_question = _question(rng.choice(pools.wh_questions), rng) if pools.wh_questions else ""
        return _review_question(opinion, wh_question, rng, held_out)
    if kind == "summarize":
        passage = _opening(rng.choice(pools.passages), rng)
        if rng.random() < QUOTED_QUESTION_SHARE:
            passage = _with_quoted_question(passage, question, rng)
        if rng.random() < 0.25:
            return _build("", passage, pick(SUMMARIZE_AFTER), ["summarize"], rng)
        lead = _composed("summarize", rng, held_out) if rng.random() < 0.5 else pick(SUMMARIZE)
        return _build(lead, passage, "", ["summarize"], rng)
    if kind == "passage_question":
        return _passage_question(_opening(rng.choice(pools.passages), rng), question, rng, held_out)
    if kind == "indirect_question":
        lead = rng.choice(split_phrasings(QA_LEADS, held_out))
        reference = rng.choice(split_phrasings(CONTEXT_REFERENCES, held_out))
        if reference and rng.random() < 0.5:
            lead = reference[:1].upper() + reference[1:] + lead[:1].lower() + lead[1:]
        if not pools.wh_questions:
            return _build("", question, "", ["qa"], rng, quoted=False)
        clause = _as_clause(_question(rng.choice(pools.wh_questions), rng))
        prompt = f"{lead} {clause}{rng.choice(['.', '', '?', '.'])}"
        start = len(lead) + 1
        return RouterExample(prompt, ["qa"], start, start + len(clause))
    if kind == "summarize_sentiment":
        text = rng.choice([opinion, _opening(rng.choice(pools.passages), rng)])
        if rng.random() < 0.3:
            return _build("", text, pick(SUMMARIZE_SENTIMENT_AFTER), ["sentiment", "summarize"], rng)
        return _build(pick(SUMMARIZE_SENTIMENT), text, "", ["sentiment", "summarize"], rng)
    if kind == "long":
        opinionated = rng.random() < LONG_OPINION_SHARE
        if opinionated:
            reviewed = pools.long_opinions and rng.random() < 0.5
            text = rng.choice(pools.long_opinions) if reviewed else _long_rant(pools, rng, held_out)
        else:
            text = _long_text(pools, rng)
        if rng.random() < LONG_INTRO_SHARE:
            intro = rng.choice(split_phrasings(LONG_INTROS, held_out))
            text = f"{intro}{rng.choice(AFTER_JOINERS)}{text}"
        if opinionated and rng.random() < LONG_BARE_SHARE:
            if rng.random() < 0.5:
                return _build("", text, "", ["sentiment"], rng, quoted=False)
            return _rant_question(text, question, rng)
        roll = rng.random()
        if not opinionated and roll < LONG_NEUTRAL_BARE_SHARE:
            return _build("", text, "", [], rng, quoted=False, tag=False)
        if not opinionated and roll < LONG_NEUTRAL_BARE_SHARE + LONG_ASKED_SHARE:
            return _passage_question(text, question, rng, held_out)
        if rng.random() < FRAMED_SHARE:
            return _framed_long(text, question, rng, held_out, opinionated)
        return _long_example(text, question, pick, rng, held_out, opinionated)
    if kind == "attached":
        return _attached_request(question, rng, held_out)
    if kind == "unnamed_attached":
        return _unnamed_request(question, rng, held_out)
    if kind == "context_lookup":
        ask = _scrawled(_surface(_info_ask(rng, held_out, source=True), rng), rng, held_out)
        return RouterExample(ask, ["qa"], 0, len(ask), has_context=True)
    if kind in ("summarize_qa", "summarize_sentiment_qa"):
        passage = _opening(rng.choice(pools.passages), rng)
        return _summary_question(passage, question, rng, held_out, sentiment=kind == "summarize_sentiment_qa")
    if kind == "bare_question":
        if pools.info_questions and rng.random() < 0.35:
            question = _surface(rng.choice(pools.info_questions), rng)
        return _build("", question, "", ["qa"], rng, quoted=False)
    if kind == "first_person":
        feeling = rng.choice(split_phrasings(FEELINGS, held_out))
        opinion = _cased_opinion(f"I {feeling} {rng.choice(FELT_ABOUT)}", rng)
        return _build("", opinion, "", ["sentiment"], rng, quoted=False)
    if kind == "statement_question":
        return _statement_question(pools, rng, held_out)
    if kind == "event_report":
        told = _venting(rng, held_out) if rng.random() < VENTING_SHARE else _event_report(rng, held_out)
        report = _cased_opinion(told, rng)
        return _build("", _shouted(report) if rng.random() < 0.08 else report, "", ["sentiment"], rng, quoted=False)
    if kind == "writer_feeling":
        return _writer_feeling(opinion, question, rng, held_out)
    if kind == "noisy":
        statement = opinion if rng.random() < 0.5 and not _is_question(opinion) else _event_report(rng, held_out)
        return _noisy_request(statement, _opening(rng.choice(pools.passages), rng), question, rng, held_out)
    if kind == "bare_opinion":
        return _build("", _cased_opinion(opinion, rng), "", ["sentiment"], rng, quoted=False)
    if kind == "other":
        subject = rng.choice([opinion, rng.choice(pools.requests), question])
        return _build(pick(OTHER), subject, "", [], rng, tag=False)
    if kind == "request":
        request = _arithmetic(rng) if rng.random() < 0.15 else rng.choice(pools.requests)
        return _build("", _surface(request, rng), "", [], rng, quoted=False, tag=False)
    roll = rng.random()
    if roll < 0.25:
        chatter = rng.choice(split_phrasings(ASSISTANT_TALK, held_out))
    elif pools.chatter and roll < 0.75:
        chatter = rng.choice(pools.chatter)
    else:
        chatter = rng.choice(SMALL_TALK)
    return _build("", _surface(chatter, rng), "", [], rng, quoted=False, tag=False)


def _long_text(pools: SubjectPools, rng: random.Random) -> str:
    """Whole sentences of passages, 150 to 400 words: far past the 128 tokens the router reads at once."""
    wanted = rng.randint(LONG_WORDS[0], LONG_WORDS[1])
    sentences: list[str] = []
    while sum(len(s.split()) for s in sentences) < wanted:
        sentences += re.split(r"(?<=[.!?])\s+", rng.choice(pools.passages).strip())
    kept, words = [], 0
    for sentence in sentences:
        if words >= wanted:
            break
        kept.append(sentence)
        words += len(sentence.split())
    return " ".join(kept)


def _long_rant(pools: SubjectPools, rng: random.Random, held_out: bool) -> str:
    """A complaint or a rave in the first person, whole pieces of at least a length drawn from `LONG_WORDS` (the last
    piece may run past it): what happened, told with the feeling implied or said, among plain facts. Film reviews
    alone would teach that only criticism is a long opinion."""
    wanted = rng.randint(LONG_WORDS[0], LONG_WORDS[1])
    facts = re.split(r"(?<=[.!?])\s+", rng.choice(pools.passages).strip())
    opinions = pools.reviews or pools.opinions
    kinds, weights = zip(*RANT_PIECES.items(), strict=True)
    pieces: list[str] = []
    while sum(len(p.split()) for p in pieces) < wanted:
        kind = rng.choices(kinds, weights)[0]
        if kind == "passage":
            piece = facts.pop(0) if facts else rng.choice(pools.passages).split(". ")[0]
        elif kind == "event":
            piece = _event_report(rng, held_out) + rng.choice((".", ".", "!", "..."))
        elif kind == "venting":
            piece = _venting(rng, held_out)
        else:
            piece = _cased_opinion(rng.choice(opinions), rng)
        piece = piece.strip()
        pieces.append(piece[:1].upper() + piece[1:] + ("" if piece.endswith((".", "!", "?")) else "."))
    return " ".join(pieces)


def _feeling_clause(rng: random.Random, held_out: bool) -> str:
    """'how angry is she', 'tell me how the sender feels about the refund': the sentiment ask as a clause."""
    writer = rng.choice(FRAMED_WRITERS if rng.random() < 0.6 else split_phrasings(WRITERS, held_out))
    asked = _feeling_ask(writer, writer == "they", rng, held_out)
    if asked.startswith(("how ", "what ")) and rng.random() < 0.4:
        return "tell me " + asked
    return asked


def _qa_clause(question: str, rng: random.Random, held_out: bool) -> str:
    """The question about the text as one ask among others: a wh-question, a thing to pull out, or a yes/no one."""
    roll = rng.random()
    if roll < 0.3:
        return _fill(rng.choice(split_phrasings(YES_NO_FRAMES, held_out)), QUESTION_SLOTS, rng, held_out)
    if roll < 0.5:
        return _info_ask(rng, held_out).rstrip("?. ")
    clause = _as_clause(question)
    if QUESTION_START.match(question) and rng.random() < 0.4:
        return f"{rng.choice(split_phrasings(QA_LEADS, held_out)).lower()} {clause}"
    return clause


QUESTION_OPENER = re.compile(
    r"(is|are|was|were|do|does|did|can|could|will|would|how|what|whats|what's|when|where|who|which|why|i|i'm|my|their"
    r"|his|her|its|the|any)\b",
    re.IGNORECASE,
)
"""How an ask worded as a question or a thing to pull out begins: it cannot follow "Can you"."""


def _joined_asks(clauses: list[str], rng: random.Random) -> str:
    """One to three asks in one request, as typed: 'Can you sum it up, tell me how angry she is and is it covered?'
    Only an ask worded as a command follows "Can you"; a question stands on its own."""
    first, rest = clauses[0], clauses[1:]
    command = not QUESTION_OPENER.match(first)
    if not rest:
        forms = [f"{first}?", f"{first} pls", f"{first}."]
        forms += [f"Can you {first}?", f"Could you {first}?"] if command else []
    elif len(rest) == 1:
        forms = [f"{first}, and {rest[0]}?", f"Two things: {first}, and {rest[0]}?", f"{first}. Also {rest[0]}?"]
        forms += [f"Can you {first} and {rest[0]}?", f"{first} + {rest[0]}"] if command else []
    else:
        forms = [f"{first}, {rest[0]}, and {rest[1]}?", f"Three things: {first}; {rest[0]}; {rest[1]}?"]
        forms += (
            [f"Can you {first}, {rest[0]} and {rest[1]}?", f"{first}. Then {rest[0]}, and {rest[1]}?"]
            if command
            else []
        )
    if rest and rng.random() < SEPARATE_ASKS_SHARE:
        # "Is Jen upset with me? And what date does she need them by?": each ask its own sentence.
        joiner = rng.choice((" ", " And ", "\n"))
        body = _ask_sentence(first, True) + "".join(f"{joiner}{_ask_sentence(c, joiner != ' And ')}" for c in rest)
    else:
        body = rng.choice(forms)
    return body[:1].upper() + body[1:]


def _ask_sentence(clause: str, capital: bool) -> str:
    """One ask as a sentence of its own: a question ends with '?', a command with '.'."""
    head = clause[:1].upper() if capital else clause[:1]
    return head + clause[1:] + ("?" if QUESTION_OPENER.match(clause) else ".")


def _framed_long(text: str, question: str, rng: random.Random, held_out: bool, opinionated: bool) -> RouterExample:
    """A long text with its asks framed as people write them around a pasted text: where it came from, one to three
    asks in one sentence (a summary, how its writer feels, a question about it, in any order), why they ask, a
    separator, then the text; or the text first and the asks after it. A note that asks nothing, or a request for a
    skill we do not have, gets no skill. QA's subject is its question, else the subject is the text (as for
    `_summary_question`). An `opinionated` text asked about is rated too, and with the question after it the one
    subject runs from the text to the question (as for `_rant_question`)."""
    tasks = list(rng.choice(FRAMED_TASKS))
    if opinionated and tasks == ["qa"]:
        tasks = ["qa", "sentiment"]
    intro = rng.choice(split_phrasings(LONG_INTROS, held_out)) if rng.random() < 0.5 else ""
    reason = rng.choice(split_phrasings(FRAMED_REASONS, held_out)) if rng.random() < 0.45 else ""
    qa = _qa_clause(question, rng, held_out) if "qa" in tasks else ""
    if tasks:
        clauses = [
            qa
            if t == "qa"
            else _feeling_clause(rng, held_out)
            if t == "sentiment"
            else rng.choice(split_phrasings(FRAMED_SUMMARY, held_out))
            for t in rng.sample(tasks, len(tasks))
        ]
        if rng.random() < TYPO_SHARE:
            clauses = [c if c == qa else _typos(c, rng) for c in clauses]
        request = _joined_asks(clauses, rng)
    elif rng.random() < 0.5:
        request = rng.choice(split_phrasings(FRAMED_NOTES, held_out))
    else:
        request = rng.choice(split_phrasings(OTHER, held_out)).rstrip(": ") + "."
    asks = " ".join(part for part in (request, reason) if part)
    separator = rng.choice(FRAMED_SEPARATORS)
    asks_first = rng.random() < 0.6
    if asks_first:
        head = " ".join(p for p in (intro, asks) if p)
        prompt = f"{head}{separator.lstrip(':') if head.endswith(('.', '?', '!')) else separator}{text}"
    else:
        lead = f"{intro}{rng.choice(FRAMED_SEPARATORS)}" if intro else ""
        prompt = f"{lead}{text}{separator}{asks}"
    if not tasks:
        return RouterExample(prompt, [], 0, 0)
    subject = text
    if opinionated and qa and not asks_first and "summarize" not in tasks:
        subject = prompt[prompt.index(text) :]
    elif qa:
        subject = qa if qa in prompt else qa[:1].upper() + qa[1:]
    return _tagged(prompt, subject, tasks)


def _with_quoted_question(text: str, question: str, rng: random.Random) -> str:
    """`text` with `question` told inside it (`QUOTED_QUESTION_FRAMES`), between two of its sentences."""
    sentences = re.split(r"(?<=[.!?])\s+", text.strip())
    if len(sentences) < 2:
        # At a text's end a question reads as asked of the reader: that is QA's kind (`_passage_question`).
        return text
    told = rng.choice(QUOTED_QUESTION_FRAMES).format(q=question.rstrip("?. ") + "?")
    at = rng.randint(1, len(sentences) - 1)
    return " ".join([*sentences[:at], told, *sentences[at:]])


def _rant_question(text: str, question: str, rng: random.Random) -> RouterExample:
    """A question after a rant or a rave and no instruction: sentiment reads the text, QA the question, as one subject
    from start to end (a neutral passage with a question after it is QA's alone)."""
    prompt = f"{text}{rng.choice(RANT_QUESTION_JOINERS)}{question}"
    return _tagged(prompt, prompt, ["sentiment", "qa"])


def _long_example(
    text: str,
    question: str,
    pick: Callable[[Sequence[str]], str],
    rng: random.Random,
    held_out: bool,
    opinionated: bool = False,
) -> RouterExample:
    """A long text with the request before it or after it: the router reads only its head and its tail.

    Requests come as the short ones do, or point back or ahead at the text ("reading that back, ..."), which only
    a long text makes people write. An `opinionated` text (a review) with only a question after it is a rant with a
    question (`_rant_question`), not a passage to answer from.
    """
    after = rng.random() < 0.5
    roll = rng.random()
    if roll < 0.53 and rng.random() < QUOTED_QUESTION_SHARE:
        text = _with_quoted_question(text, question, rng)
    requests = [
        (0.2, (SUMMARIZE, LONG_SUMMARY_BEFORE), (SUMMARIZE_AFTER, LONG_SUMMARY_AFTER), ["summarize"], text),
        (0.38, (SENTIMENT, LONG_SENTIMENT_BEFORE), (SENTIMENT_AFTER, LONG_SENTIMENT_AFTER), ["sentiment"], text),
        (
            0.53,
            (SUMMARIZE_SENTIMENT, LONG_SUMMARY_SENTIMENT_BEFORE),
            (SUMMARIZE_SENTIMENT_AFTER, LONG_SUMMARY_SENTIMENT_AFTER),
            ["sentiment", "summarize"],
            text,
        ),
        (
            0.65,
            (BOTH, LONG_SENTIMENT_BEFORE),
            (BOTH_AFTER, LONG_SENTIMENT_AFTER),
            ["sentiment", "qa"],
            f"{text} {question}",
        ),
    ]
    for upto, leads, trails, tasks, subject in requests:
        if roll < upto:
            if subject != text and rng.random() < BETWEEN_SHARE:
                # "<text> Analyse the sentiment and answer: <question>": sentiment reads the text, QA the question at
                # its end, so the one subject runs from the text's start to the question's end, request inside.
                prompt = f"{text} {pick(BOTH)} {question}"
                return _tagged(prompt, prompt, tasks)
            if after:
                return _build("", subject, pick(rng.choice(trails)), tasks, rng)
            return _build(pick(rng.choice(leads)), subject, "", tasks, rng)
    if roll < 0.75:
        if opinionated:
            return _rant_question(text, question, rng)
        return _passage_question(text, question, rng, held_out)
    if roll < 0.9:
        return _summary_question(text, question, rng, held_out, sentiment=roll < 0.82)
    return _build(pick(OTHER), text, "", [], rng, tag=False)


def _tagged(prompt: str, subject: str, tasks: list[str], context_skills: Sequence[str] = ()) -> RouterExample:
    start = prompt.index(subject)
    ordered = [t for t in TASK_ORDER if t in tasks]
    return RouterExample(prompt, ordered, start, start + len(subject), list(context_skills))


def _attached_request(question: str, rng: random.Random, held_out: bool) -> RouterExample:
    """A request about a text sent beside the prompt ("tell me the passage's sentiment"): no subject in the prompt;
    sentiment and summarize work on the context, and a question asked with them is QA's subject."""

    def pick(items: Sequence[str]) -> str:
        return rng.choice(split_phrasings(items, held_out))

    about = pick(ATTACHED)
    sentiment = rng.choice(
        [
            _polish(f"{pick(SENTIMENT_VERBS)} {about}", rng),
            _polarity_question(rng, held_out, about),
            pick(ATTACHED_SHORT_SENTIMENT).format(o=about),
            _polish(f"read {about} and {pick(ATTACHED_SENTIMENT)}", rng),
        ]
    )
    summary = rng.choice(
        [_polish(f"{pick(SUMMARIZE_VERBS)} {about}", rng), pick(ATTACHED_SHORT_SUMMARY).format(o=about)]
    )
    both = rng.choice(
        [
            _polish(f"{pick(SUMMARIZE_VERBS)} {about} and {pick(ATTACHED_SENTIMENT)}", rng),
            _polish(f"{pick(SENTIMENT_VERBS)} {about} and {pick(ATTACHED_SUMMARY)}", rng),
            pick(ATTACHED_SHORT_BOTH).format(o=about),
        ]
    )
    requests = [(sentiment, ["sentiment"]), (summary, ["summarize"]), (both, ["sentiment", "summarize"])]
    instruction, skills = rng.choices(requests, weights=(0.45, 0.35, 0.2))[0]
    instruction = _scrawled(instruction, rng, held_out)
    if rng.random() < ATTACHED_QUESTION_SHARE:
        return _with_question(instruction, skills, question, rng, held_out)
    return RouterExample(instruction, [t for t in TASK_ORDER if t in skills], 0, 0, skills)


def _unnamed_request(question: str, rng: random.Random, held_out: bool) -> RouterExample:
    """A request that names no text ("gist?", "good or bad?"): it asks about the attached one, so it comes with it."""
    choices = [
        (UNNAMED_SENTIMENT, ["sentiment"]),
        (UNNAMED_SUMMARY, ["summarize"]),
        (UNNAMED_BOTH, ["sentiment", "summarize"]),
    ]
    items, skills = rng.choices(choices, weights=(0.45, 0.4, 0.15))[0]
    instruction = _scrawled(_surface(rng.choice(split_phrasings(items, held_out)), rng), rng, held_out)
    if rng.random() < ATTACHED_QUESTION_SHARE:
        example = _with_question(instruction, skills, question, rng, held_out)
    else:
        example = RouterExample(instruction, [t for t in TASK_ORDER if t in skills], 0, 0, skills)
    return replace(example, has_context=True)


def _with_context(example: RouterExample, rng: random.Random) -> RouterExample:
    """Whether the request sends a context: almost always when the prompt asks about one, else now and then."""
    if example.has_context:
        return example
    share = ATTACHED_CONTEXT_SHARE if example.context_skills else OTHER_CONTEXT_SHARE
    return replace(example, has_context=rng.random() < share)


def _with_question(
    instruction: str, skills: list[str], question: str, rng: random.Random, held_out: bool
) -> RouterExample:
    """A request about the attached text with a question beside it, either side: the question is QA's subject."""
    instruction = instruction.rstrip(":.-? ")
    if rng.random() < INFO_ASK_SHARE:
        question = _info_ask(rng, held_out)
    roll = rng.random()
    if roll < 0.3 and QUESTION_START.match(question):
        # "Give me a summary of the ticket and tell me what the account ID is": the question as a clause.
        clause = _as_clause(question)
        lead = rng.choice(split_phrasings(QA_LEADS, held_out)).lower()
        joiner = rng.choice((" and ", ", and ", ". Also ", " n ", " + "))
        prompt = f"{instruction}{joiner}{lead} {clause}{rng.choice(('', '.', '?'))}"
        return _tagged(prompt, clause, [*skills, "qa"], skills)
    if roll < 0.65:
        prompt = f"{instruction}{rng.choice(ATTACHED_JOINERS)}{question}"
    else:
        prompt = f"{question}{rng.choice(AFTER_QUESTION)}{instruction[:1].lower()}{instruction[1:]}"
    return _tagged(prompt, question, [*skills, "qa"], skills)


def _summary_question(
    passage: str, question: str, rng: random.Random, held_out: bool, sentiment: bool
) -> RouterExample:
    """A passage in the prompt to summarise (and rate, with `sentiment`) with a question about it: QA's subject is
    the question, as for any passage with a question."""
    leads = SUMMARIZE_SENTIMENT if sentiment else SUMMARIZE
    if rng.random() < INFO_ASK_SHARE / 2:
        question = _info_ask(rng, held_out)
    summary = rng.choice(split_phrasings(leads, held_out)).rstrip(":?.- ")
    if rng.random() < TYPO_SHARE:
        summary = _typos(summary, rng)
    ask = rng.choice(split_phrasings(QA_LEADS, held_out)).lower()
    templates = [
        f"{passage}\n\n{summary}. Also, {question}",
        f"{summary} and answer this: {question}\n\n{passage}",
        f"{summary}{rng.choice([' + ', ', then '])}{question}{rng.choice(JOINERS)}{passage}",
    ]
    if QUESTION_START.match(question):
        clause = _as_clause(question)
        templates += [f"{summary}, and {ask} {clause}: {passage}", f"{passage} {summary}, then {ask} {clause}."]
    prompt = rng.choice(templates)
    subject = question if question in prompt else _as_clause(question)
    tasks = ["summarize", "qa", *(["sentiment"] if sentiment else [])]
    return _tagged(prompt, subject, tasks)


def _review_question(opinion: str, question: str, rng: random.Random, held_out: bool) -> RouterExample:
    """A review and a question about it: the sentiment of the review, and the answer from it.

    The question comes as a "tell me ..." clause or as a direct question ("what year did it come out").
    """
    if rng.random() < INFO_ASK_SHARE / 2:
        clause = _info_ask(rng, held_out).rstrip("?.")
    elif question and rng.random() < 0.5:
        clause = _as_clause(question)
    else:
        clause = rng.choice(split_phrasings(QA_LEADS, held_out)).lower() + " " + rng.choice(REVIEW_QUESTIONS)
    left, right = rng.choice(QUOTES[1:])
    quoted = f"{left}{opinion}{right}"
    ask = _composed("sentiment", rng, held_out).rstrip(":?.- ")
    templates = [
        f"{ask} and {clause}: {quoted}",
        f"{ask}, then {clause}.{rng.choice(JOINERS)}{quoted}",
        f"{quoted}{rng.choice(AFTER_JOINERS)}{_polarity_question(rng, held_out).rstrip('?:')}? And {clause}?",
        f"Here's a review: {quoted} {ask[:1].lower()}{ask[1:]}, and {clause}",
        f"{_polarity_question(rng, held_out).rstrip('?:')}? Also, {clause}?{rng.choice(JOINERS)}{quoted}",
    ]
    return _tagged(rng.choice(templates), opinion, ["sentiment", "qa"])


def _passage_question(passage: str, question: str, rng: random.Random, held_out: bool) -> RouterExample:
    """A passage with a question about it, in either order: asking about a text is not summarising it."""
    reference = rng.choice([r for r in split_phrasings(CONTEXT_REFERENCES, held_out) if r] or [""])
    templates = [
        f"{passage}\n\n{question}",
        f"Context: {passage}\nQuestion: {question}",
        f"{reference[:1].upper()}{reference[1:]}{question[:1].lower()}{question[1:]}\n\n{passage}",
        f"{passage} {question}",
    ]
    if QUESTION_START.match(question):
        lead = rng.choice(split_phrasings(QA_LEADS, held_out)).lower()
        templates.append(f"Read this and {lead} {_as_clause(question)}: {passage}")
    prompt = rng.choice(templates)
    subject = question if question in prompt else question[:1].lower() + question[1:]
    if subject not in prompt:
        subject = _as_clause(question)
    return _tagged(prompt, subject, ["qa"])


def _typos(instruction: str, rng: random.Random) -> str:
    """One or two words of an instruction misspelt as typed in a hurry ("sentimant", "summarise" -> "sumarise"):
    a letter dropped, doubled, swapped with the next or replaced by a vowel; the first letter stays."""
    words = instruction.split(" ")
    long_words = [i for i, w in enumerate(words) if sum(c.isalpha() for c in w) >= 4]
    for i in rng.sample(long_words, min(len(long_words), rng.choice((1, 1, 2)))):
        word = words[i]
        j = rng.choice([k for k, c in enumerate(word) if c.isalpha()][1:])
        edit = rng.choice(("drop", "double", "swap", "vowel"))
        if edit == "drop":
            word = word[:j] + word[j + 1 :]
        elif edit == "double":
            word = word[:j] + word[j] + word[j:]
        elif edit == "swap" and j + 1 < len(word):
            word = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
        else:
            word = word[:j] + rng.choice("aeiou") + word[j + 1 :]
        words[i] = word
    return " ".join(words)


def _build(
    before: str,
    subject: str,
    after: str,
    tasks: list[str],
    rng: random.Random,
    quoted: bool = True,
    tag: bool = True,
) -> RouterExample:
    if rng.random() < TYPO_SHARE:
        before, after = _typos(before, rng), _typos(after, rng)
    if quoted:
        prompt, start, end = _render(before, subject, after, rng)
    else:
        prompt, start, end = subject, 0, len(subject)
    if not tag:
        start = end = 0
    ordered = [t for t in TASK_ORDER if t in tasks]
    return RouterExample(prompt, ordered, start, end)


KINDS: dict[str, float] = {
    "sentiment": 0.0525,
    "qa": 0.0475,
    "both": 0.0525,
    "review_question": 0.045,
    "summarize": 0.05,
    "summarize_sentiment": 0.03,
    "bare_question": 0.05,
    "indirect_question": 0.045,
    "passage_question": 0.045,
    "bare_opinion": 0.05,
    "other": 0.04,
    "request": 0.04,
    "small_talk": 0.045,
    "long": 0.1,
    "first_person": 0.025,
    "attached": 0.0525,
    "summarize_qa": 0.025,
    "summarize_sentiment_qa": 0.015,
    "statement_question": 0.035,
    "event_report": 0.04,
    "writer_feeling": 0.03,
    "noisy": 0.03,
    "unnamed_attached": 0.03,
    "context_lookup": 0.025,
}
"""Each kind's share of the generated prompts (they sum to 1). The kinds added in v14 (statement-form questions,
event reports, questions about how a writer feels, noisy instructions) and long's rise from 5.7% took their shares
from the largest kinds (both 11.5% -> 7%, sentiment 10.7% -> 7%, qa 9% -> 6.5%, bare_question 7.4% -> 5.5%,
bare_opinion 6.6% -> 5%); the others stayed within half a point of their v13 share. v16's requests that name no
text (`unnamed_attached`) took a point each from sentiment, qa and both; v17's look-ups in an attached text
(`context_lookup`) half a point each from review_question, passage_question, bare_question, statement_question and
summarize; v20's rise of long from 7% to 10% took three quarters of a point each from sentiment, qa, both and
attached."""


def generate(pools: SubjectPools, count: int, seed: int, held_out: bool) -> Iterator[RouterExample]:
    rng = random.Random(seed)
    kinds, weights = zip(*KINDS.items(), strict=True)
    for _ in range(count):
        yield _with_context(_example(rng.choices(kinds, weights)[0], pools, rng, held_out), rng)


def handwritten_sets(folder: Path = HANDWRITTEN_DIR) -> dict[str, list[dict[str, Any]]]:
    """Each hand-written router set by name (file stem); none outside a source checkout."""
    return {path.stem: read_records(path) for path in sorted(folder.glob("router_*.jsonl"))}


def written_examples(folder: Path = WRITTEN_DIR) -> list[RouterExample]:
    """The written training prompts (`*.jsonl` in `folder`, none outside a source checkout), checked as they are read:
    a record with an unknown skill, targets that do not match its one-text skills, or a context target with no
    context sent, is an error naming it."""
    skills = set(TASK_ORDER)
    examples = []
    for path in sorted(folder.glob("*.jsonl")):
        for number, row in enumerate(read_records(path), start=1):
            tasks, targets = row["tasks"], row.get("targets", {})
            example = RouterExample(
                row["prompt"],
                [t for t in TASK_ORDER if t in tasks],
                0,
                0,
                context_skills=[t for t, target in targets.items() if target == "context"],
                has_context="context" in row,
                subject_labelled=False,
            )
            fits = targets == example.targets and (example.has_context or not example.context_skills)
            if not set(tasks) <= skills or len(set(tasks)) != len(tasks) or not fits:
                raise ValueError(f"{path}: record {number}: tasks {tasks} or targets {targets} do not match the skills")
            examples.append(example)
    return examples


def write_splits(
    data_dir: Path,
    out_dir: Path,
    seed: int,
    sizes: dict[str, int],
    opinion_model: Path | None = None,
    written_dir: Path = WRITTEN_DIR,
) -> dict[str, Path]:
    """train/dev with training phrasings, test with held-out phrasings; subjects disjoint across splits. A training
    split also holds `WRITTEN_REPEAT` copies of each written prompt from `written_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    evaluated = _word_runs(plain(row["prompt"]) for rows in handwritten_sets().values() for row in rows)
    paths = {}
    for offset, (split, count) in enumerate(sizes.items()):
        path = out_dir / f"{split}.jsonl"
        examples: Iterable[RouterExample] = ()
        if count:
            pools = SubjectPools.from_data_dir(data_dir, split, opinion_model)
            examples = generate(pools, count, seed + offset, held_out=split == "test")
            if split == "train":
                examples = [*examples, *written_examples(written_dir) * WRITTEN_REPEAT]
        with path.open("w", encoding="utf-8") as handle:
            for example in examples:
                if plain(example.prompt) not in evaluated:
                    handle.write(json.dumps(asdict(example), ensure_ascii=False) + "\n")
        paths[split] = path
    return paths


def _word_runs(texts: Iterable[str]) -> set[str]:
    """Every text, and every run of two or more consecutive words in it.

    A generated prompt equal to a hand-written one, or to a piece of one ("cheers mate" inside "Cheers mate,
    appreciate it"), would let the router train on an evaluation prompt. Single words ("thanks") are too common to
    count as a piece.
    """
    runs = set()
    for text in texts:
        words = text.split()
        runs.add(text)
        runs.update(" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 2, len(words) + 1))
    return runs
