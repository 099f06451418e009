"""What one request may make the models read, and how long inputs are cut into model calls of a fixed size.

Characters are limited before tokenisation (`slmesh.schemas`); tokens after it, here. A model call never reads more
than `CALL_TOKENS` padded tokens, so the memory one call needs does not grow with the input: a long context is more
calls, not a bigger one.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_CONTEXT_TOKENS = 30_000
"""Context tokens QA reads for one question: 100,000 characters of English prose are about 20,000."""
MAX_TEXT_TOKENS = 16_384
"""Tokens sentiment reads for one text (a prompt's 4,000 characters are at most about 4,000)."""
CALL_TOKENS = 2048
"""Padded tokens per model call: five 384-token QA windows, four 512-token sentiment windows, or many short texts."""


class InputTooLarge(ValueError):
    """An input over a token limit; the message names the field, its size and the limit, and holds no user text."""

    def __init__(self, field: str, tokens: int, limit: int, skill: str) -> None:
        super().__init__(f"{field} is {tokens:,} tokens; {skill} reads at most {limit:,}")
        self.field = field
        self.tokens = tokens
        self.limit = limit


def calls(lengths: Sequence[int], budget: int = CALL_TOKENS, rows: int | None = None) -> list[slice]:
    """Consecutive runs of `lengths` whose padded size (rows x longest) stays within `budget`, `rows` at most.

    An input longer than the budget on its own is a call by itself.
    """
    out: list[slice] = []
    start, longest = 0, 0
    for i, length in enumerate(lengths):
        count = i - start + 1
        wider = max(longest, length)
        if count > 1 and (wider * count > budget or (rows is not None and count > rows)):
            out.append(slice(start, i))
            start, wider = i, length
        longest = wider
    if start < len(lengths):
        out.append(slice(start, len(lengths)))
    return out
