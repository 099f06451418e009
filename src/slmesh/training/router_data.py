"""Generates labelled router prompts: instruction phrasings x subject texts from the shared data.

Phrasings are split into families: `train` and `dev` use one set, `test` only phrasings never trained on,
so the test split measures how the router copes with wording it has not seen.
"""

from __future__ import annotations

import json
import random
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from slmesh.config import SKILLS
from slmesh.datasets_io import iter_jsonl, read_records

Phrasing = TypeVar("Phrasing")
Row = TypeVar("Row")

HANDWRITTEN_DIR = Path(__file__).resolve().parents[3] / "training" / "eval"
"""Prompts written by hand in the source checkout; router cards report them, training never reads them."""

SENTIMENT = [
    "Analyse the sentiment of the following text:",
    "Analyze the sentiment of this:",
    "What is the sentiment of this review?",
    "Is this positive or negative?",
    "Classify the sentiment:",
    "Tell me whether the following is positive or negative:",
    "Sentiment analysis:",
    "How does the writer feel in this text?",
    "Detect the sentiment in the following sentence:",
    "Is the tone of this message positive or negative?",
    "Please rate the sentiment of:",
    "Give me the sentiment of the following:",
    "What's the mood of this comment?",
    "Determine if this opinion is favourable:",
    "Would you say this review is good or bad?",
    "Check the emotional tone of this:",
    "Run sentiment on this tweet:",
    "Label this text as positive or negative:",
    "Is the customer happy or unhappy here?",
    "What attitude does this sentence express?",
    "Find out how positive this feedback is:",
    "Can you analyse the sentiment of this sentence?",
    "Evaluate the polarity of the following statement:",
    "Is this a positive or a negative statement?",
]
SENTIMENT_AFTER = [
    "What is the sentiment of the text above?",
    "Is that positive or negative?",
    "Classify the sentiment of the above.",
    "How does the author feel?",
    "What's the tone here?",
    "Sentiment?",
    "Positive or negative?",
    "Rate the sentiment of that message.",
]
QA = [
    "Answer the following question:",
    "Answer this question:",
    "Please answer:",
    "Can you answer this?",
    "Question:",
    "I have a question:",
    "Help me with this question:",
    "Find the answer to:",
    "Look up the answer to the following:",
    "Respond to this question:",
    "Quick question:",
    "Tell me the answer:",
    "Could you tell me",
    "Answer based on the passage:",
    "Using the context, answer:",
    "Reply to the following query:",
    "Give me an answer to this:",
    "What is the answer to the following?",
    "Solve this question for me:",
    "I'd like to know:",
    "Extract the answer to this question:",
    "Do you know",
]
QA_AFTER = [
    "Please answer the question above.",
    "Answer that.",
    "What's the answer?",
    "Can you answer it?",
    "Any idea?",
    "Respond to the question above.",
]
BOTH = [
    "Analyse sentiment and answer the following question:",
    "Analyze the sentiment and answer this question:",
    "Answer the question and tell me its sentiment:",
    "What is the sentiment of this question, and what is the answer?",
    "Please answer and classify the tone of:",
    "Give me the sentiment and the answer for:",
    "Do sentiment analysis and question answering on:",
    "Is this positive or negative, and can you answer it?",
    "Answer this and say whether the person is upset:",
    "Detect the mood of the following question and answer it:",
    "Two things: sentiment, and an answer to",
    "Tell me how the asker feels and answer their question:",
    "Classify the emotion and respond to the question:",
    "Analyse the tone and then answer:",
    "Sentiment plus answer please:",
    "First find the sentiment, then answer the question:",
    "Answer the question below and rate its sentiment:",
    "Work out whether this is positive and answer it:",
]
BOTH_AFTER = [
    "Answer it and tell me the sentiment.",
    "What's the sentiment, and what's the answer?",
    "Analyse the sentiment and answer the question.",
    "Tell me the answer and whether it sounds negative.",
    "Sentiment and answer, please.",
]
SUMMARIZE = [
    "Summarize the following text:",
    "Summarise this:",
    "Give me a short summary of:",
    "TL;DR:",
    "Condense this into a sentence:",
    "What is the gist of the following?",
    "Write a brief summary of this article:",
    "Sum up this review:",
    "Make this shorter:",
    "Can you summarise the passage below?",
    "Provide an abstract for:",
    "Boil this down to its key points:",
]
SUMMARIZE_SENTIMENT = [
    "Summarize this review and tell me if it is positive:",
    "Give a summary and the sentiment of:",
    "Sum up and classify the tone of the following:",
    "Summarise the text and analyse its sentiment:",
]
SUMMARIZE_AFTER: list[str] = []
SUMMARIZE_SENTIMENT_AFTER: list[str] = []
OTHER = [
    "Translate this into French:",
    "Write a poem about",
    "Correct the grammar in this sentence:",
    "Rewrite this in a formal tone:",
    "Turn this into a tweet:",
    "Generate a title for:",
    "Convert to uppercase:",
    "Write a story that starts with",
    "Count the words in:",
    "Paraphrase the following:",
    "Make a joke about",
    "List three synonyms for",
    "Write code that prints",
    "Spell-check this text:",
]
SMALL_TALK = [
    "hi",
    "hello there",
    "thanks a lot",
    "good morning!",
    "see you later",
    "ok",
    "that's all for now",
    "cool",
    "bye",
    "hey, how's it going",
    "thank you so much",
    "nice to meet you",
    "lol",
    "never mind",
    "yes",
    "no thanks",
]
# Requests that embed the question as a clause ("tell me who founded it") carry no question mark to lean on.
QA_LEADS = [
    "Tell me",
    "Find out",
    "Explain",
    "Let me know",
    "I want to know",
    "Show me",
    "Work out",
    "Help me find out",
    "Look up",
    "Check",
    "Say",
    "Please tell me",
    "Figure out",
    "I wonder",
    "Describe",
    "Can you find out",
]
CONTEXT_REFERENCES = [
    "",
    "",
    "",
    "from the text, ",
    "using the context, ",
    "according to the passage, ",
    "based on the document, ",
    "from the article above, ",
    "looking at the notice, ",
    "in the report, ",
]
POLARITIES = [
    ("positive", "negative"),
    ("good", "bad"),
    ("happy", "unhappy"),
    ("friendly", "hostile"),
    ("pleased", "annoyed"),
    ("a complaint", "a compliment"),
    ("polite", "rude"),
    ("satisfied", "dissatisfied"),
    ("favourable", "unfavourable"),
    ("upbeat", "gloomy"),
    ("happy", "sad"),
    ("praise", "criticism"),
]
POLARITY_FRAMES = [
    "Is {o} {a} or {b}?",
    "Would you call {o} {a} or {b}?",
    "Does {o} sound {a} or {b}?",
    "Tell me if {o} is {a} or {b}:",
    "{a} or {b}?",
    "Decide whether {o} is {a}:",
]
SUMMARIZE_VERBS = [
    "summarise",
    "summarize",
    "condense",
    "shorten",
    "sum up",
    "recap",
    "give me the gist of",
    "boil down",
    "cut down",
    "give me the short version of",
    "give me the key points of",
    "give me a TL;DR of",
    "write a one-line summary of",
    "abridge",
    "outline the main points of",
    "give me the takeaways from",
]
SUMMARIZE_OBJECTS = [
    "this",
    "this article",
    "the following",
    "this report",
    "this story",
    "this paragraph",
    "this email",
]
# Bare opinions arrive cased and punctuated, often with an interjection; SST-2 sentences are lowercased fragments.
OPINION_OPENERS = ["", "", "", "", "Ugh, ", "Wow, ", "Honestly, ", "Oh no, ", "Well, ", "Sigh. ", "Yay, ", "Meh, "]
OPINION_CLOSERS = ["", "", ".", ".", "!", "!!", " :(", " :)", ", thanks all", ", never again", "..."]
# Verb phrases x objects x politeness give hundreds of phrasings, so the router learns what an instruction
# asks for rather than memorising a few templates. Every fourth verb phrase is held out for the test split.
SENTIMENT_VERBS = [
    "analyse the sentiment of",
    "classify the sentiment of",
    "detect the sentiment in",
    "determine the sentiment of",
    "tell me the sentiment of",
    "tell me how the writer feels in",
    "figure out the mood of",
    "rate the tone of",
    "identify the emotion in",
    "judge the attitude of",
    "gauge the feeling behind",
    "assess the opinion in",
    "evaluate the polarity of",
    "find the sentiment of",
    "work out whether the writer is happy in",
    "check the tone of",
    "describe the emotional tone of",
    "score the positivity of",
    "tell me if there is negativity in",
    "say whether the author likes it in",
    "analyze the feelings in",
    "determine if the speaker is pleased or annoyed in",
    "label the polarity of",
    "read the mood of",
]
SENTIMENT_OBJECTS = [
    "this text",
    "the following",
    "this review",
    "this sentence",
    "this message",
    "this comment",
    "the text below",
    "this tweet",
    "this feedback",
    "this statement",
    "what they wrote",
    "the following passage",
]
QA_VERBS = [
    "answer",
    "respond to",
    "reply to",
    "find the answer to",
    "give me an answer to",
    "help me answer",
    "work out the answer to",
    "tell me the answer to",
    "solve",
    "address",
    "figure out",
    "provide an answer for",
    "look up the answer to",
    "resolve",
    "get me the answer to",
    "deal with",
]
QA_OBJECTS = [
    "the following question",
    "this question",
    "this query",
    "the question below",
    "my question",
    "this",
]
OTHER_VERBS = [
    "translate",
    "rewrite",
    "paraphrase",
    "proofread",
    "reformat",
    "turn into a haiku",
    "write a reply to",
    "make a title for",
    "spell-check",
    "count the letters in",
    "capitalise",
    "translate into Spanish",
    "continue",
    "fix the typos in",
    "turn into a question",
    "write a poem inspired by",
    "convert to bullet points",
    "make a hashtag from",
    "write a limerick about",
    "encode in base64",
]
POLITE = [
    "",
    "",
    "Please ",
    "Can you ",
    "Could you ",
    "Kindly ",
    "I need you to ",
    "Would you ",
    "Hey, ",
    "I want you to ",
]
BOTH_PATTERNS = [
    "{s} {so} and {q} it",
    "{q} {qo} and {s} it",
    "{s} and {q} {qo}",
    "First {s} {so}, then {q} it",
    "{q} the question and also {s} it",
    "{s} {so}, and {q} it too",
]
PHRASINGS_FILE = Path(__file__).with_name("router_phrasings.json")
"""Paraphrases by another writer (a helper agent shown neither this generator nor any evaluation set), so the router
learns more than one writer's habits. Keys name the list each joins."""
PARAPHRASED = {
    "SENTIMENT_BEFORE": SENTIMENT,
    "SENTIMENT_AFTER": SENTIMENT_AFTER,
    "QA_BEFORE": QA,
    "QA_AFTER": QA_AFTER,
    "BOTH_BEFORE": BOTH,
    "BOTH_AFTER": BOTH_AFTER,
    "SUMMARIZE_BEFORE": SUMMARIZE,
    "SUMMARIZE_AFTER": SUMMARIZE_AFTER,
    "SUMMARIZE_SENTIMENT_BEFORE": SUMMARIZE_SENTIMENT,
    "SUMMARIZE_SENTIMENT_AFTER": SUMMARIZE_SENTIMENT_AFTER,
    "OTHER_BEFORE": OTHER,
    "SMALL_TALK": SMALL_TALK,
    "QA_LEADS": QA_LEADS,
}
SPLIT_PHRASINGS = [
    *(items for items in PARAPHRASED.values() if items is not SMALL_TALK),
    SENTIMENT_VERBS,
    QA_VERBS,
    OTHER_VERBS,
    SUMMARIZE_VERBS,
    POLARITY_FRAMES,
    CONTEXT_REFERENCES,
]
"""Every list whose fourth items are held out; SMALL_TALK is not split."""
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
# Questions a reader asks about a review's content; the review itself is the subject the skills get.
REVIEW_QUESTIONS = [
    "what the writer liked most",
    "what went wrong",
    "which product it is about",
    "how long they waited",
    "what they would change",
    "who they blame",
    "what the price was",
    "whether they would come back",
    "what they compared it to",
    "when it happened",
    "where they bought it",
    "how many stars they gave",
]
PASSAGE_FILES = ("squadshifts_new_wiki", "squadshifts_amazon", "squadshifts_reddit")
REVIEW_FILES = ("subjqa", "squadshifts_amazon")
OPINION_CONFIDENCE = 0.955
"""Calibrated sentiment score a review sentence needs to count as an opinion: neutral ones ("I bought it in May")
score lower."""
REVIEW_SHARE = 0.4
QUOTES = [("", ""), ('"', '"'), ("“", "”"), ("”", "”"), ("'", "'"), ("«", "»")]
JOINERS = [" ", " ", "", "\n", "  "]
AFTER_JOINERS = [" ", "\n", "\n\n"]
TASK_ORDER = SKILLS
QUESTION_START = re.compile(
    r"^(who|what|when|where|why|how|which|whom|whose|is|are|was|were|do|does|did|can|could|will|would|"
    r"should|has|have|had)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class RouterExample:
    prompt: str
    tasks: list[str]
    subject_start: int
    subject_end: int


def split_phrasings(items: Sequence[Phrasing], held_out: bool) -> list[Phrasing]:
    """Every fourth phrasing is held out from training and used only for the test split."""
    return [p for i, p in enumerate(items) if (i % 4 == 3) == held_out]


def plain(text: str) -> str:
    """Lower-case words only: how phrasings are compared for containment."""
    return " ".join(re.sub(r"[^a-z;' ]", " ", text.lower().replace("{o}", " ")).split())


def held_out_wordings() -> list[str]:
    """Plain forms of every held-out phrasing and polarity pair ("praise or criticism")."""
    held = [plain(p) for items in SPLIT_PHRASINGS for p in split_phrasings(items, held_out=True) if plain(p)]
    return held + [f"{x} or {y}" for a, b in split_phrasings(POLARITIES, held_out=True) for x, y in ((a, b), (b, a))]


def _add_paraphrases() -> None:
    """Appends the file's paraphrases to their lists, leaving out any that repeats or is part of another phrasing
    and any that holds a held-out wording: no held-out wording may end up inside a training phrasing.

    The lists are extended in place at import because the generator and the tests read them by name.
    """
    more: dict[str, list[str]] = json.loads(PHRASINGS_FILE.read_text(encoding="utf-8"))
    existing = {plain(p) for items in SPLIT_PHRASINGS for p in items} | {plain(p) for p in SMALL_TALK}
    held = held_out_wordings()
    everything = list(existing) + [plain(p) for items in more.values() for p in items]
    for key, items in more.items():
        for phrasing in items:
            text = plain(phrasing)
            inside_another = any(text in other and text != other for other in everything)
            if text and text not in existing and not inside_another and not any(h in text for h in held):
                PARAPHRASED[key].append(phrasing)
                existing.add(text)


_add_paraphrases()


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
        info = [r["text"] for r in clinc if r["intent"] in INFO_INTENTS]
        requests = [r["text"] for r in clinc if r["intent"] not in INFO_INTENTS and not _is_question(r["text"])]
        # Questions to the assistant itself ("how are you", "are you a bot") are chatter, not questions to answer.
        chatter = [r["text"] for r in clinc if r["domain"] == "small_talk"]
        reviews = _confident_opinions(_review_sentences(data_dir, part), opinion_model) if opinion_model else []
        return cls(take(sst2), take(questions), passages, requests, chatter, info, reviews)


def _split_of(text: str) -> int:
    """0 (train, 8 in 10), 1 (dev) or 2 (test), fixed by the text itself, so that one context lands in the same split
    whether it feeds the passages or the review sentences."""
    bucket = zlib.crc32(text.encode("utf-8")) % 10
    return 0 if bucket < 8 else bucket - 7


def _contexts(data_dir: Path, names: Sequence[str], part: int) -> list[str]:
    rows = (r["context"] for name in names for r in iter_jsonl(data_dir / f"qa/{name}/train.jsonl.gz"))
    return [c for c in dict.fromkeys(rows) if _split_of(c) == part]


def _review_sentences(data_dir: Path, part: int) -> list[str]:
    sentences = (s.strip() for c in _contexts(data_dir, REVIEW_FILES, part) for s in re.split(r"(?<=[.!?])\s+", c))
    return list(dict.fromkeys(s for s in sentences if 5 <= len(s.split()) <= 25))


def _confident_opinions(sentences: list[str], model_dir: Path) -> list[str]:
    """One sentence per call: dynamic int8 would otherwise make a sentence's score depend on its batch."""
    from slmesh.runtime import load_bundle
    from slmesh.skills.sentiment import SentimentSkill

    skill = SentimentSkill(load_bundle(model_dir, "sentiment"))
    return [s for s in sentences if skill.predict([s])[0].score >= OPINION_CONFIDENCE]


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


def _polarity_question(rng: random.Random, held_out: bool) -> str:
    a, b = rng.choice(split_phrasings(POLARITIES, held_out))
    if rng.random() < 0.5:
        a, b = b, a
    text = rng.choice(split_phrasings(POLARITY_FRAMES, held_out)).format(o=rng.choice(SENTIMENT_OBJECTS), a=a, b=b)
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
    if kind == "bare_question":
        if pools.info_questions and rng.random() < 0.35:
            question = _surface(rng.choice(pools.info_questions), rng)
        return _build("", question, "", ["qa"], rng, quoted=False)
    if kind == "bare_opinion":
        return _build("", _cased_opinion(opinion, rng), "", ["sentiment"], rng, quoted=False)
    if kind == "other":
        subject = rng.choice([opinion, rng.choice(pools.requests), question])
        return _build(pick(OTHER), subject, "", [], rng, tag=False)
    if kind == "request":
        return _build("", _surface(rng.choice(pools.requests), rng), "", [], rng, quoted=False, tag=False)
    chatter = rng.choice(pools.chatter) if pools.chatter and rng.random() < 0.7 else rng.choice(SMALL_TALK)
    return _build("", _surface(chatter, rng), "", [], rng, quoted=False, tag=False)


def _tagged(prompt: str, subject: str, tasks: list[str]) -> RouterExample:
    start = prompt.index(subject)
    return RouterExample(prompt, tasks, start, start + len(subject))


def _review_question(opinion: str, question: str, rng: random.Random, held_out: bool) -> RouterExample:
    """A review and a question about it: the sentiment of the review, and the answer from it.

    The question comes as a "tell me ..." clause or as a direct question ("what year did it come out").
    """
    if question and rng.random() < 0.5:
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


def _build(
    before: str,
    subject: str,
    after: str,
    tasks: list[str],
    rng: random.Random,
    quoted: bool = True,
    tag: bool = True,
) -> RouterExample:
    if quoted:
        prompt, start, end = _render(before, subject, after, rng)
    else:
        prompt, start, end = subject, 0, len(subject)
    if not tag:
        start = end = 0
    ordered = [t for t in TASK_ORDER if t in tasks]
    return RouterExample(prompt, ordered, start, end)


KINDS: dict[str, float] = {
    "sentiment": 0.13,
    "qa": 0.11,
    "both": 0.14,
    "review_question": 0.06,
    "summarize": 0.07,
    "summarize_sentiment": 0.04,
    "bare_question": 0.09,
    "indirect_question": 0.06,
    "passage_question": 0.06,
    "bare_opinion": 0.08,
    "other": 0.05,
    "request": 0.05,
    "small_talk": 0.06,
}


def generate(pools: SubjectPools, count: int, seed: int, held_out: bool) -> Iterator[RouterExample]:
    rng = random.Random(seed)
    kinds, weights = zip(*KINDS.items(), strict=True)
    for _ in range(count):
        yield _example(rng.choices(kinds, weights)[0], pools, rng, held_out)


def handwritten_sets(folder: Path = HANDWRITTEN_DIR) -> dict[str, list[dict[str, Any]]]:
    """Each hand-written router set by name (file stem); none outside a source checkout."""
    return {path.stem: read_records(path) for path in sorted(folder.glob("router_*.jsonl"))}


def write_splits(
    data_dir: Path, out_dir: Path, seed: int, sizes: dict[str, int], opinion_model: Path | None = None
) -> dict[str, Path]:
    """train/dev with training phrasings, test with held-out phrasings; subjects disjoint across splits."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = _word_runs(plain(row["prompt"]) for rows in handwritten_sets().values() for row in rows)
    paths = {}
    for offset, (split, count) in enumerate(sizes.items()):
        path = out_dir / f"{split}.jsonl"
        examples: Iterable[RouterExample] = ()
        if count:
            pools = SubjectPools.from_data_dir(data_dir, split, opinion_model)
            examples = generate(pools, count, seed + offset, held_out=split == "test")
        with path.open("w", encoding="utf-8") as handle:
            for example in examples:
                if plain(example.prompt) not in written:
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
