"""Text normalisation before tokenising: emoji become the words of their names; messages lose links and handles."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import Tokenizer

from slmesh.textnorm import emoji_names, messages, normalizer

pytestmark = pytest.mark.unit


def test_emoji_become_their_names_in_words() -> None:
    assert emoji_names("🤬🤬").split() == ["face", "with", "symbols", "on", "mouth"] * 2
    assert emoji_names("great 👍👍👍").split() == ["great", *["thumbs", "up"] * 3]
    assert emoji_names("😍").split() == ["smiling", "face", "with", "heart", "eyes"]


def test_text_without_emoji_is_left_as_it_is() -> None:
    for text in ("plain ascii, snake_case and well-known", "“Curly quotes”, café, naïve", ""):
        assert emoji_names(text) == text
    # Only the names lose their underscores and hyphens, not the text around them.
    assert emoji_names("well-known 🔥 snake_case").split() == ["well-known", "fire", "snake_case"]


def test_emoji_are_unknown_to_the_tokenizer_and_their_names_are_not(models_dir: Path) -> None:
    tokenizer = Tokenizer.from_file(str(models_dir / "sentiment" / "tokenizer.json"))
    unknown = tokenizer.token_to_id("[UNK]")
    for text in ("🤬🤬", "👍👍👍", "I love it ❤️😂"):
        assert unknown in tokenizer.encode(text).ids
        assert unknown not in tokenizer.encode(emoji_names(text)).ids


def test_messages_read_links_as_http_and_handles_as_user() -> None:
    text = "@TfL_Help the 8:02 is cancelled AGAIN 🤬 http://t.co/A4K2B86PBv see www.example.com/status?x=1"
    assert messages(text).split() == [
        "@user",
        "the",
        "8:02",
        "is",
        "cancelled",
        "AGAIN",
        "face",
        "with",
        "symbols",
        "on",
        "mouth",
        "http",
        "see",
        "http",
    ]


def test_messages_leave_addresses_and_plain_words_alone() -> None:
    for text in ("mail me at jo@example.com", "HTTP 503 means the service is down", "whatsapp me", ""):
        assert messages(text) == text


def test_normalisations_are_named() -> None:
    assert normalizer("none")("🤬") == "🤬"
    assert normalizer("emoji_names") is emoji_names
    assert normalizer("messages") is messages
    with pytest.raises(ValueError, match="unknown text normalisation 'emoji'"):
        normalizer("emoji")
