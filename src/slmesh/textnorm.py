"""Text normalisation applied before tokenising, by name, so that training and serving apply the same one.

A model card names its normalisation (`inference.normalize`); the sentiment skill and the sentiment training read
that name and call `normalizer(name)`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import emoji


def _ranges(points: list[int]) -> str:
    """A regex character class body for sorted code points, runs of neighbours written as ranges."""
    spans: list[list[int]] = []
    for p in points:
        if spans and p == spans[-1][1] + 1:
            spans[-1][1] = p
        else:
            spans.append([p, p])
    return "".join(re.escape(chr(a)) + (f"-{re.escape(chr(b))}" if b > a else "") for a, b in spans)


# Every emoji holds at least one of these characters: looking for them first spares most texts emoji's own search,
# which costs about as much as tokenising. As ranges, since a class of 1,400 single characters is no faster.
_EMOJI_CHARS = re.compile("[" + _ranges(sorted({ord(c) for e in emoji.EMOJI_DATA for c in e if not c.isascii()})) + "]")


def _words(chars: str, data: dict[str, str]) -> str:
    # CLDR names come as ":smiling_face_with_heart-eyes:".
    return " " + re.sub(r"[_:-]+", " ", data["en"]).strip() + " "


def emoji_names(text: str) -> str:
    """Every emoji replaced by its English (CLDR) name in words: "🤬" -> " face with symbols on mouth ".

    The WordPiece vocabulary has no emoji: each run of them reads as one [UNK], which a model can only score from
    where it stands (the binary model gave "🤬🤬" and "👍👍👍" the same positive 0.90).
    """
    if not _EMOJI_CHARS.search(text):
        return text
    return emoji.replace_emoji(text, replace=_words)


_LINK = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w@])@\w+")


def messages(text: str) -> str:
    """`emoji_names`, with every link read as "http" and every @mention as "@user" (as TweetEval prepares tweets).

    A shortened link is a dozen word pieces of noise that say nothing of how a message feels, and a handle only names
    someone: both crowd out the words that do.
    """
    if "@" in text:
        text = _MENTION.sub("@user", text)
    lowered = text.lower()
    if "http" in lowered or "www." in lowered:
        text = _LINK.sub("http", text)
    return emoji_names(text)


def unchanged(text: str) -> str:
    return text


NORMALIZERS: dict[str, Callable[[str], str]] = {"none": unchanged, "emoji_names": emoji_names, "messages": messages}


def normalizer(name: str) -> Callable[[str], str]:
    try:
        return NORMALIZERS[name]
    except KeyError:
        raise ValueError(f"unknown text normalisation {name!r} (known: {', '.join(NORMALIZERS)})") from None
