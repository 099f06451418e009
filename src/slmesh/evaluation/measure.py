"""What `slmesh eval SKILL` needs from a skill: the fields of a labelled row and the function that scores them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Measure:
    fields: tuple[str, ...]
    """The fields every labelled row must have."""
    evaluate: Callable[..., dict[str, Any]]
    """(skill, rows, batch_size=...) -> metrics; dynamic int8 makes a row's result depend slightly on its batch."""
