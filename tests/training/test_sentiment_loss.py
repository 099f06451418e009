"""The three-class sentiment loss: binary rows (SST-2, IMDB) teach which pole, never whether a text is neutral."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.training

torch = pytest.importorskip("torch")

from slmesh.training import sentiment  # noqa: E402  (needs torch)

NEG, NEU, POS = (sentiment.LABELS.index(n) for n in ("negative", "neutral", "positive"))


def _logit_grads(design: str, label: int, polar_only: bool) -> Any:
    logits = torch.tensor([[0.3, -0.2, 1.1]], requires_grad=True)
    labels, polar = torch.tensor([label]), torch.tensor([int(polar_only)])
    sentiment.sentiment_loss(logits, labels, polar, sentiment.DESIGNS[design]).backward()
    return logits.grad[0]


@pytest.mark.parametrize("design", ["polar_ce", "gated"])
@pytest.mark.parametrize("label", [NEG, POS])
def test_a_binary_row_leaves_the_neutral_logit_alone(design: str, label: int) -> None:
    grads = _logit_grads(design, label, polar_only=True)
    assert grads[NEU] == 0.0
    # and still says which pole: up for its own, down for the other
    other = POS if label == NEG else NEG
    assert grads[label] < 0 < grads[other]


def test_plain_cross_entropy_teaches_binary_rows_never_neutral() -> None:
    # The baseline design the other two are measured against pushes neutral down on every binary row.
    assert _logit_grads("plain_ce", POS, polar_only=True)[NEU] > 0.0


@pytest.mark.parametrize("design", ["polar_ce", "gated", "plain_ce"])
def test_three_class_rows_get_plain_cross_entropy(design: str) -> None:
    logits = torch.tensor([[0.3, -0.2, 1.1], [2.0, 0.5, -1.0]])
    labels, polar = torch.tensor([NEU, NEG]), torch.tensor([0, 0])
    loss = sentiment.sentiment_loss(logits, labels, polar, sentiment.DESIGNS[design])
    assert float(loss) == pytest.approx(float(torch.nn.functional.cross_entropy(logits, labels)))


def _gated(seed: int = 0) -> Any:
    torch.manual_seed(seed)
    head = sentiment.GatedHead(8)
    return head, torch.randn(4, 8)


def test_the_gated_head_gives_three_log_probabilities() -> None:
    head, pooled = _gated()
    assert torch.allclose(head(pooled).exp().sum(-1), torch.ones(4), atol=1e-6)


def test_binary_rows_never_move_the_gated_heads_polar_gate() -> None:
    head, pooled = _gated()
    labels, polar = torch.tensor([NEG, POS, NEG, POS]), torch.ones(4, dtype=torch.long)
    sentiment.sentiment_loss(head(pooled), labels, polar, sentiment.DESIGNS["gated"]).backward()
    gate, pole = head.weight.grad
    # Zero up to rounding: the gate cancels out of the pole-only loss only once the log-probabilities are summed.
    assert float(gate.abs().max()) < 1e-6 and abs(float(head.bias.grad[0])) < 1e-6
    assert float(pole.abs().max()) > 1e-2
    # A neutral tweet does move the gate.
    head.zero_grad()
    sentiment.sentiment_loss(head(pooled), torch.full((4,), NEU), torch.zeros(4), sentiment.DESIGNS["gated"]).backward()
    assert float(head.weight.grad[0].abs().max()) > 1e-2


@pytest.mark.parametrize("design", ["polar_ce", "gated"])
def test_a_binary_export_keeps_its_poles_in_the_three_class_head(design: str) -> None:
    rng = np.random.default_rng(0)
    weight, bias = rng.normal(size=(2, 8)).astype(np.float32), np.array([0.2, -0.1], dtype=np.float32)
    stored = sentiment.head_adapter(design, ["negative", "positive"])(
        {"classifier.weight": weight, "classifier.bias": bias}
    )
    head = sentiment.GatedHead(8) if design == "gated" else torch.nn.Linear(8, 3)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(stored["classifier.weight"]))
        head.bias.copy_(torch.from_numpy(stored["classifier.bias"]))
        pooled = torch.from_numpy(rng.normal(size=(16, 8)).astype(np.float32))
        three = head(pooled).numpy()
    binary = pooled.numpy() @ weight.T + bias
    # The widened head prefers the same pole as the binary one, by the same logit margin.
    np.testing.assert_allclose(three[:, POS] - three[:, NEG], binary[:, 1] - binary[:, 0], atol=1e-5)


def test_a_two_row_head_without_its_card_is_refused() -> None:
    adapt = sentiment.head_adapter("gated", None)
    with pytest.raises(SystemExit, match=r"card\.json"):
        adapt({"classifier.weight": np.zeros((2, 4)), "classifier.bias": np.zeros(2)})


def test_calibration_finds_the_temperature_that_made_the_labels() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(scale=4.0, size=(4000, 3))
    scaled = np.exp(logits / 2.0)
    probs = scaled / scaled.sum(1, keepdims=True)
    labels = np.array([rng.choice(3, p=p) for p in probs])
    fitted = sentiment.fit_calibration(logits, labels, np.zeros(len(labels), dtype=int), with_bias=False)
    assert fitted["temperature"] == pytest.approx(2.0, rel=0.08)
    assert fitted["nll_after"] < fitted["nll_before"]


def test_class_bias_corrects_a_shifted_class() -> None:
    rng = np.random.default_rng(2)
    logits = rng.normal(scale=2.0, size=(4000, 3))
    shifted = logits + np.array([0.0, 1.5, 0.0])
    probs = np.exp(shifted) / np.exp(shifted).sum(1, keepdims=True)
    labels = np.array([rng.choice(3, p=p) for p in probs])
    fitted = sentiment.fit_calibration(logits, labels, np.zeros(len(labels), dtype=int), with_bias=True)
    bias = fitted["class_bias"]
    assert bias[NEU] - (bias[NEG] + bias[POS]) / 2 == pytest.approx(1.5, abs=0.2)


def test_a_soft_pole_target_pulls_toward_the_teachers_score() -> None:
    # Given a binary positive row whose teacher says 0.7, the pole loss is lowest at p(positive | polar) = 0.7.
    def loss_at(p_pos: float) -> float:
        logits = torch.tensor([[np.log(1 - p_pos), 0.0, np.log(p_pos)]], dtype=torch.float64)
        return float(
            sentiment.sentiment_loss(
                logits,
                torch.tensor([POS]),
                torch.tensor([1]),
                sentiment.DESIGNS["polar_ce"],
                pole_target=torch.tensor([0.7]),
            )
        )

    assert loss_at(0.7) < min(loss_at(0.6), loss_at(0.8), loss_at(0.99))


def test_hard_pole_targets_match_the_labels_only_loss() -> None:
    logits = torch.tensor([[0.3, -0.2, 1.1], [2.0, 0.5, -1.0]])
    labels, polar = torch.tensor([POS, NEG]), torch.tensor([1, 1])
    design = sentiment.DESIGNS["polar_ce"]
    hard = torch.tensor(sentiment.pole_targets([POS, NEG], None, 0.0))
    assert float(sentiment.sentiment_loss(logits, labels, polar, design, pole_target=hard)) == pytest.approx(
        float(sentiment.sentiment_loss(logits, labels, polar, design))
    )


def test_pole_targets_blend_label_and_teacher() -> None:
    assert sentiment.pole_targets([POS, NEG], np.array([0.6, 0.2]), 0.5) == pytest.approx([0.8, 0.1])


def test_balanced_weights_give_each_three_class_label_the_same_total() -> None:
    rows = [{"labels": NEU, "polar_only": 0}] * 6 + [{"labels": NEG, "polar_only": 0}] * 2
    rows += [{"labels": POS, "polar_only": 0}] * 4 + [{"labels": POS, "polar_only": 1}] * 50
    weights = sentiment.class_weights(rows, "balanced")
    totals = {label: weights[label] * n for label, n in ((NEU, 6), (NEG, 2), (POS, 4))}
    assert totals[NEU] == pytest.approx(totals[NEG]) == pytest.approx(totals[POS])
    assert sentiment.class_weights(rows, "none") == {}


def test_row_weights_scale_each_rows_share_of_the_loss() -> None:
    logits = torch.tensor([[0.3, -0.2, 1.1], [2.0, 0.5, -1.0]])
    labels, polar = torch.tensor([NEU, NEG]), torch.tensor([0, 0])
    design = sentiment.DESIGNS["polar_ce"]
    per_row = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
    weighted = sentiment.sentiment_loss(logits, labels, polar, design, weight=torch.tensor([3.0, 1.0]))
    assert float(weighted) == pytest.approx(float((3 * per_row[0] + per_row[1]) / 4))
