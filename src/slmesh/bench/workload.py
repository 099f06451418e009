"""The texts every system is timed on: the article's prompts, review-like sentences, set-length passages."""

from __future__ import annotations

from tokenizers import Tokenizer

from slmesh.demo import REFERENCE_PROMPTS, TRAIN_SERVICE_CONTEXT

QUESTIONS = (
    "When will the next train to Harbour Park arrive?",
    "Why are the trains delayed?",
    "How often do trains run on the Riverside Line?",
    "Which platform does the next train leave from?",
    "When did Old Town station open?",
    "How many trains were delayed in the last hour?",
    "When was the station restored?",
    "Is the train still coming?",
)

_SUBJECTS = (
    "The train",
    "This station",
    "The new timetable",
    "The conductor",
    "Our trip to the coast",
    "The ticket app",
    "The waiting room",
    "The 8:15 service",
)
_MIDDLES = (
    "was delayed again and nobody told us why",
    "is clean, quiet and easy to find",
    "made the whole journey a pleasure",
    "broke down twice before we even left town",
    "felt cramped, noisy and far too expensive",
    "was on time for once",
    "left me waiting in the cold for an hour",
    "has friendly staff who really help",
)
_TAILS = (
    "which ruined my morning",
    "so I will definitely come back",
    "and I am not impressed at all",
    "and honestly it was better than I expected",
)


def article_requests() -> list[tuple[str, str]]:
    """The article's three prompts, each answered from the demo's service update."""
    return [(prompt, TRAIN_SERVICE_CONTEXT) for prompt in REFERENCE_PROMPTS]


def quoted_part(prompt: str) -> str:
    """The text inside the prompt's quotes: what a subject tagger would hand the skills."""
    opening = prompt.find("”")
    if opening < 0:
        return prompt
    return prompt[opening + 1 :].strip("”“\"' ") or prompt


def sentences(count: int) -> list[str]:
    """Distinct review-like sentences of 15 to 25 tokens, the length of a typical SQS sentiment message."""
    out = []
    for i in range(count):
        n = len(_SUBJECTS) * len(_MIDDLES)
        subject = _SUBJECTS[i % len(_SUBJECTS)]
        middle = _MIDDLES[(i // len(_SUBJECTS)) % len(_MIDDLES)]
        tail = _TAILS[(i // n) % len(_TAILS)]
        out.append(f"{subject} {middle}, {tail}.")
    return out


def qa_pairs(count: int) -> list[tuple[str, str]]:
    return [(QUESTIONS[i % len(QUESTIONS)], TRAIN_SERVICE_CONTEXT) for i in range(count)]


def text_of_tokens(tokenizer: Tokenizer, tokens: int, source: str = TRAIN_SERVICE_CONTEXT) -> str:
    """A prefix of `source` (repeated as needed) that encodes to exactly `tokens` word pieces, no specials."""
    text = source
    encoding = tokenizer.encode(text, add_special_tokens=False)
    while len(encoding.ids) < tokens:
        text = f"{text} {source}"
        encoding = tokenizer.encode(text, add_special_tokens=False)
    return text[: encoding.offsets[tokens - 1][1]]


def review_of_tokens(tokenizer: Tokenizer, sequence_length: int) -> str:
    """A review that, with [CLS] and [SEP], is `sequence_length` tokens long."""
    return text_of_tokens(tokenizer, max(1, sequence_length - 2), " ".join(sentences(64)))


def passage_of_tokens(tokenizer: Tokenizer, question: str, sequence_length: int) -> str:
    """A context that, with the question and three specials, makes a `sequence_length`-token QA input."""
    question_tokens = len(tokenizer.encode(question, add_special_tokens=False).ids)
    return text_of_tokens(tokenizer, max(1, sequence_length - question_tokens - 3))
