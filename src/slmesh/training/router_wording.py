"""The words of generated router prompts: instruction phrasings and the held-out split of them.

Templates, composable verb phrases and objects, and paraphrases by another writer (`router_phrasings.json`). Every
fourth item of a split list is held out: only the test split uses it, so that split measures wording the router never
trained on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

Phrasing = TypeVar("Phrasing")

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
    "Condense this into a sentence:",
    "TL;DR:",
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
    "give me a TL;DR of",
    "give me the key points of",
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
# Requests about a text sent beside the prompt (the request's context), not inside it: the skill's target is the
# context. Every fourth of each list is held out, as for the other phrasings.
ATTACHED = [
    "the passage",
    "the attached text",
    "the text below",
    "the write-up below",
    "the document",
    "the review below",
    "the email I pasted",
    "the snippet I shared",
    "the message above",
    "the attached review",
    "this document",
    "the forwarded message",
    "the post above",
    "the comment below",
    "the feedback I sent you",
    "the enclosed letter",
    "the context I gave you",
    "the text I attached",
    "the customer's email",
    "the blurb above",
]
ATTACHED_SENTIMENT = [
    "tell me its sentiment",
    "say whether it is positive or negative",
    "rate its tone",
    "judge how it comes across",
    "give me its sentiment",
    "tell me if it sounds angry",
    "classify its mood",
    "work out its overall feeling",
]
ATTACHED_SHORT_SENTIMENT = [
    "sentiment of {o}?",
    "tone of {o}?",
    "mood of {o} pls",
    "{o}: thumbs up or down?",
    "vibe of {o}?",
    "{o} - good or bad?",
    "how angry is {o}",
    "{o}, happy or not?",
]
ATTACHED_SHORT_SUMMARY = [
    "tl;dr of {o}",
    "summary of {o}",
    "tldr {o}",
    "{o} in a nutshell?",
    "sum up {o} pls",
    "gist of {o}?",
    "recap {o}",
    "{o} in two lines?",
]
# First-person opinions with no instruction ("I hate this app"): SST-2 and review sentences rarely speak so.
FEELINGS = [
    "love",
    "hate",
    "really like",
    "can't stand",
    "adore",
    "am so disappointed with",
    "am impressed by",
    "am fed up with",
    "am loving",
    "regret buying",
    "am so happy with",
    "am sick of",
    "enjoy",
    "really dislike",
    "am thrilled with",
    "am done with",
]
FELT_ABOUT = [
    "this app",
    "the new update",
    "my new phone",
    "this hotel",
    "your service",
    "the food here",
    "this airline",
    "the customer support",
    "this place",
    "the new design",
    "this game",
    "the delivery service",
    "your website",
    "this train company",
    "the new timetable",
    "these headphones",
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
    "analyze the sentiment of",
    "get the sentiment of",
    "give me the sentiment of",
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
    ATTACHED,
    ATTACHED_SENTIMENT,
    ATTACHED_SHORT_SENTIMENT,
    ATTACHED_SHORT_SUMMARY,
]
"""Every list whose fourth items are held out; SMALL_TALK is not split."""
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
QUOTES = [("", ""), ('"', '"'), ("“", "”"), ("”", "”"), ("'", "'"), ("«", "»")]
JOINERS = [" ", " ", "", "\n", "  "]
AFTER_JOINERS = [" ", "\n", "\n\n"]


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
