"""The served models against their cards: a card describes the files beside it, and each model keeps under the bar."""

from __future__ import annotations

from pathlib import Path

import pytest

from slmesh.runtime import MODEL_FILE, TOKENIZER_FILE, read_card, sha256
from slmesh.training.cards import render_markdown

pytestmark = pytest.mark.unit

SKILLS = ["router", "sentiment", "qa", "embed"]
TRAINED = ["router", "sentiment", "qa"]
"""The embedder is the base model as it is: no training, no skill metrics of its own."""
SIZE_BAR = 30_000_000  # the cards' MB are 10^6 bytes


@pytest.mark.parametrize("skill", SKILLS)
def test_card_names_the_files_beside_it(models_dir: Path, skill: str) -> None:
    folder = models_dir / skill
    files = read_card(folder)["files"]
    assert files[MODEL_FILE]["sha256"] == sha256(folder / MODEL_FILE)
    assert files[MODEL_FILE]["bytes"] == (folder / MODEL_FILE).stat().st_size
    assert files[TOKENIZER_FILE]["sha256"] == sha256(folder / TOKENIZER_FILE)


@pytest.mark.parametrize("skill", SKILLS)
def test_int8_model_stays_under_the_size_bar(models_dir: Path, skill: str) -> None:
    assert (models_dir / skill / MODEL_FILE).stat().st_size < SIZE_BAR


@pytest.mark.parametrize("skill", SKILLS)
def test_readme_is_the_card_rendered(models_dir: Path, skill: str) -> None:
    card = read_card(models_dir / skill)
    assert (models_dir / skill / "README.md").read_text() == render_markdown(card)


@pytest.mark.parametrize("skill", TRAINED)
def test_card_has_metrics_training_parity_and_latency(models_dir: Path, skill: str) -> None:
    card = read_card(models_dir / skill)
    assert set(card["metrics"]) == {"fp32", "int8"}
    assert card["metrics"]["fp32"].keys() == card["metrics"]["int8"].keys()
    assert {"command", "seed"} <= card["training"].keys() and card["data"]["train"]
    assert card["parity"]["examples"] > 0 and card["latency_ms_batch1"]["p50"] > 0
