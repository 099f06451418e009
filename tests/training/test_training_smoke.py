"""Fine-tunes a tiny randomly initialised BERT for each skill, exports, quantises and serves it.

No Hub and no shared data: the base model is built from a config and the data sets are written here, in the
layout of ../shared/data, so the same commands as real training run end to end in seconds.
"""

from __future__ import annotations

import gzip
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.training

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

WORDS = [
    "the",
    "a",
    "train",
    "station",
    "late",
    "again",
    "great",
    "awful",
    "lovely",
    "slow",
    "quick",
    "film",
    "movie",
    "good",
    "bad",
    "love",
    "hate",
    "time",
    "next",
    "city",
    "first",
    "who",
    "what",
    "when",
    "where",
    "is",
    "was",
    "did",
    "platform",
    "ten",
    "nine",
    "old",
    "new",
    "red",
    "blue",
    "arrive",
    "left",
    "right",
    "river",
    "park",
    "town",
    "opened",
    "year",
    "clara",
    "voss",
    "built",
    "bridge",
    "answer",
    "question",
    "sentiment",
    "analyse",
    "summarize",
    "please",
    "tell",
    "me",
    "this",
    "text",
    "review",
]


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r) + "\n" for r in rows)
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)


def _qa_rows(rng: random.Random, count: int, answerable: bool = True) -> list[dict[str, Any]]:
    rows = []
    for i in range(count):
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 30))]
        context = " ".join(words)
        answer = words[rng.randrange(len(words))]
        start = context.index(answer) if answerable else 0
        rows.append(
            {
                "id": str(i),
                "title": "t",
                "context": context,
                "question": "what " + " ".join(rng.choice(WORDS) for _ in range(4)) + "?",
                "answers": {"text": [answer], "answer_start": [start]}
                if answerable
                else {"text": [], "answer_start": []},
            }
        )
    return rows


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(0)
    root = tmp_path_factory.mktemp("data")
    sentences = [
        {"text": " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))), "label": i % 2} for i in range(80)
    ]
    _write(root / "sentiment/sst2/train.jsonl.gz", sentences)
    _write(root / "sentiment/sst2/dev.jsonl", sentences[:20])
    classes = ("negative", "neutral", "positive")
    tweets = [{**row, "label": classes[i % 3]} for i, row in enumerate(sentences)]
    _write(root / "sentiment/tweets/train.jsonl.gz", tweets)
    _write(root / "sentiment/tweets/dev.jsonl", tweets[:30])
    from slmesh.training.qa import DEV_FILES, TRAIN_FILES

    for name in TRAIN_FILES + DEV_FILES:
        _write(root / name, _qa_rows(rng, 20, answerable="unanswerable" not in name))
    requests = [
        {"text": " ".join(rng.choice(WORDS) for _ in range(5)), "intent": "x", "domain": "y"} for _ in range(40)
    ]
    _write(root / "intent/clinc150/train.jsonl.gz", requests)
    return root


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tokenizers.implementations import BertWordPieceTokenizer

    root = tmp_path_factory.mktemp("tiny-bert")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    punctuation = list("?!.,:;'\"“”’-")
    vocab = {token: i for i, token in enumerate(dict.fromkeys(specials + WORDS + punctuation))}
    tokenizer = BertWordPieceTokenizer(vocab=vocab, lowercase=True)
    tokenizer.save(str(root / "tokenizer.json"))
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(str(root))
    return root


def _train(skill: str, base: Path, data: Path, out: Path, *extra: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "slmesh.training", skill, "--base-model", str(base), "--data-dir", str(data)]
    command += ["--out", str(out / skill), "--max-steps", "3", "--batch-size", "4", "--threads", "1", *extra]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    card: dict[str, Any] = json.loads((out / skill / "card.json").read_text())
    return card


def _run(*args: str) -> list[str]:
    """A module of this project run as a command; its stdout lines."""
    done = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines()


def _without_fp32(model_dir: Path, target: Path) -> Path:
    """A copy of a trained model folder that has lost its fp32 file, as the GPU-trained models did."""
    shutil.copytree(model_dir, target)
    (target / "model_fp32.onnx").unlink()
    return target


@pytest.fixture(scope="module")
def trained(tiny_base: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("models")
    cards = {
        "sentiment": _train(
            "sentiment",
            tiny_base,
            data_dir,
            out,
            "--no-imdb",
            *("--train-data", str(data_dir / "sentiment/sst2/train.jsonl.gz")),
            *("--train-data", str(data_dir / "sentiment/tweets/train.jsonl.gz")),
        ),
        "qa": _train("qa", tiny_base, data_dir, out, "--limit", "60", "--layers", "1"),
    }
    # The router picks extra opinions from review sentences with the sentiment model just trained.
    opinions = ("--opinion-model", str(out / "sentiment"))
    cards["router"] = _train("router", tiny_base, data_dir, out, "--limit", "40", "--layers", "1", *opinions)
    return out, cards


@pytest.mark.parametrize("skill", ["sentiment", "qa", "router"])
def test_card_records_training_metrics_parity_and_files(
    trained: tuple[Path, dict[str, Any]], data_dir: Path, skill: str
) -> None:
    out, cards = trained
    card = cards[skill]
    assert card["training"]["steps"] == 3
    assert 0 < card["training"]["epochs"] < 1, "three steps cover less than the epochs asked for"
    assert card["training"]["encoder_layers"] == {"sentiment": 2, "qa": 1, "router": 1}[skill]
    if skill == "sentiment":
        assert card["data"]["train"] == [str(data_dir / f"sentiment/{s}/train.jsonl.gz") for s in ("sst2", "tweets")]
        assert card["training"]["design"] == "gated" and card["inference"]["normalize"] == "emoji_names"
        assert card["inference"]["labels"] == ["negative", "neutral", "positive"]
        assert set(card["metrics"]["int8"]["tweets_dev"]) >= {"macro_recall", "recall_neutral"}
        report = card["calibration"]["int8"]["tweets_dev"]
        assert set(report) == {"examples", "uncalibrated", "calibrated", "cross_fitted"}
    assert set(card["metrics"]) == {"fp32", "int8"}
    checks = {"sentiment": ["same_label"], "qa": ["same_span"], "router": ["same_skills", "same_subject_span"]}[skill]
    assert all(0.0 <= card["parity"][check] <= 1.0 for check in checks)
    assert card["parity"]["reference"] == "torch fp32"
    model = out / skill / "model.onnx"
    assert card["files"]["model.onnx"]["bytes"] == model.stat().st_size
    assert (out / skill / "model_fp32.onnx").stat().st_size > model.stat().st_size
    assert (out / skill / "README.md").read_text().startswith(f"# slmesh {skill} model")


def test_router_card_names_the_model_that_picked_its_opinions(trained: tuple[Path, dict[str, Any]]) -> None:
    from slmesh.runtime import sha256

    out, cards = trained
    picked_by = cards["router"]["data"]["opinion_model"]
    assert picked_by["sha256"] == sha256(out / "sentiment" / "model.onnx")


def test_router_card_counts_the_written_prompts_it_trained_on(trained: tuple[Path, dict[str, Any]]) -> None:
    from slmesh.runtime import sha256
    from slmesh.training.router_data import WRITTEN_DIR, WRITTEN_REPEAT, written_examples

    written = trained[1]["router"]["data"]["written_prompts"]
    assert written["prompts"] == len(written_examples()) and written["copies"] == WRITTEN_REPEAT
    assert written["files"] == {path.name: {"sha256": sha256(path)} for path in WRITTEN_DIR.glob("*.jsonl")}


def test_static_int8_probe_compares_both_router_files(trained: tuple[Path, dict[str, Any]]) -> None:
    out, _ = trained
    command = [sys.executable, "-m", "slmesh.research.probes", "static-int8", str(out / "router"), "--runs", "2"]
    done = subprocess.run([*command, "--calibration", "8"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["model"] for r in rows] == ["model.onnx", "model_static.onnx"]
    assert all("router_handwritten_test" in r["exact_task_set_accuracy"] for r in rows)


def test_trained_models_serve_through_the_same_inference_code(trained: tuple[Path, dict[str, Any]]) -> None:
    from slmesh.pipeline import Pipeline
    from slmesh.runtime import ModelStore
    from slmesh.schemas import AnalyzeRequest
    from slmesh.skills.qa import QASkill
    from slmesh.skills.sentiment import SentimentSkill

    out, _ = trained
    pipeline = Pipeline(ModelStore(out))
    try:
        response = pipeline.analyze(
            AnalyzeRequest(prompt="please tell me: is the train late again?", context="the train is late")
        )
        assert set(response.router.scores) == {"sentiment", "qa", "summarize"}
        sentiment = pipeline.skills.skill(SentimentSkill).predict(["lovely station", "awful slow train"])
        assert all(set(r.scores) == {"negative", "neutral", "positive"} for r in sentiment)
        assert all(r.score == r.scores[r.label] == max(r.scores.values()) for r in sentiment)
        answer = pipeline.skills.skill(QASkill).answer("who opened the bridge?", "clara voss opened the bridge")
        assert answer.no_answer_reason != "no_context"
    finally:
        pipeline.close()


def _sentiment_model(base: Path) -> Any:
    """The architecture the smoke run trained: the default design's head on the tiny base."""
    from slmesh.training.sentiment import build_model

    return build_model(str(base), "gated")


def test_int8_weights_read_back_within_one_quantisation_step_of_fp32(
    trained: tuple[Path, dict[str, Any]], tiny_base: Path
) -> None:
    from slmesh.research.onnx_weights import state_dict_from_onnx

    out, _ = trained
    fp32 = state_dict_from_onnx(out / "sentiment" / "model_fp32.onnx")
    int8 = state_dict_from_onnx(out / "sentiment" / "model.onnx")
    params = dict(_sentiment_model(tiny_base).named_parameters())
    assert set(fp32) == set(int8) == set(params)
    for name, weight in fp32.items():
        assert weight.shape == tuple(params[name].shape), name
        # 7-bit weights: the worst rounding is half a step, a 127th of the largest magnitude of the row or tensor.
        assert abs(weight - int8[name]).max() <= abs(weight).max() / 120 + 1e-7, name


def test_weights_read_back_into_torch_compute_what_the_onnx_file_computes(
    trained: tuple[Path, dict[str, Any]], tiny_base: Path
) -> None:
    # The name and layout mapping (a transposed square matrix included) shows only when torch runs the weights.
    from slmesh.runtime import new_session
    from slmesh.training.common import pad_features, start_from_onnx

    out, _ = trained
    fp32 = out / "sentiment" / "model_fp32.onnx"
    model = _sentiment_model(tiny_base).eval()
    start_from_onnx(model, fp32)
    ids = [[2, 7, 9, 11, 3], [2, 20, 21, 3, 0]]
    batch = pad_features([{"input_ids": i, "attention_mask": [1] * 5, "token_type_ids": [0] * 5} for i in ids])
    with torch.no_grad():
        expected = model(**batch).logits.numpy()
    (actual,) = new_session(fp32, threads=1).run(None, {k: v.numpy() for k, v in batch.items()})
    assert abs(expected - actual).max() < 1e-4


@pytest.mark.parametrize("skill", ["sentiment", "qa"])
def test_first_feed_forward_output_stays_fp32(trained: tuple[Path, dict[str, Any]], skill: str) -> None:
    import onnx

    out, cards = trained
    ops = {n.name: n.op_type for n in onnx.load(str(out / skill / "model.onnx")).graph.node}
    assert ops["/bert/encoder/layer.0/output/dense/MatMul"] == "MatMul"
    assert "/bert/encoder/layer.0/intermediate/dense/MatMul_quant" in ops
    assert cards[skill]["quantization"]["kept_fp32"] == ["/bert/encoder/layer.0/output/dense/MatMul"]


def test_rebuilt_fp32_decides_like_the_int8_file_it_came_from(
    trained: tuple[Path, dict[str, Any]], tiny_base: Path, data_dir: Path, tmp_path: Path
) -> None:
    from slmesh.research.onnx_weights import state_dict_from_onnx

    out, _ = trained
    model_dir = _without_fp32(out / "sentiment", tmp_path / "sentiment")
    command = ["slmesh.research.quantization", "rebuild-fp32", "sentiment", "--model-dir", str(model_dir)]
    _run(*command, "--base-model", str(tiny_base))
    again = subprocess.run([sys.executable, "-m", *command], capture_output=True, text=True, timeout=300)
    assert again.returncode != 0 and "--force" in again.stderr
    int8 = state_dict_from_onnx(model_dir / "model.onnx")
    rebuilt = state_dict_from_onnx(model_dir / "model_fp32.onnx")
    assert all(abs(rebuilt[name] - int8[name]).max() < 1e-6 for name in int8)
    card = json.loads((model_dir / "card.json").read_text())
    assert card["fp32_rebuilt_from_int8"]["sha256"] == card["files"]["model.onnx"]["sha256"]

    probe = _run(
        "slmesh.research.probes", "int8-sensitivity", str(model_dir), "--extra", "0", "--data-dir", str(data_dir)
    )
    rows = [json.loads(line) for line in probe]
    assert [r["kept_fp32"] for r in rows[:2]] == ["all int8", "export setting"]
    assert len(rows) == 2 + 2 * 6  # six weight MatMuls per layer; Gemm nodes cannot be kept
    # Rebuilt weights already lie on an int8 grid: re-quantised, the model must still decide almost as fp32 does.
    assert all(r["agreement"] >= 90 and r["examples"] == 20 for r in rows)

    again = ["slmesh.research.quantization", "requantize", "sentiment", "--model-dir", str(model_dir)]
    parity = json.loads(_run(*again, "--data-dir", str(data_dir))[-1])
    assert parity["reference"] == "onnx fp32 rebuilt from int8" and parity["examples"] > 0


def test_card_keeps_fp32_metrics_it_cannot_remeasure(
    trained: tuple[Path, dict[str, Any]], data_dir: Path, tmp_path: Path
) -> None:
    out, cards = trained
    model_dir = _without_fp32(out / "qa", tmp_path / "qa")
    _run("slmesh.training", "card", "qa", "--model-dir", str(model_dir), "--data-dir", str(data_dir))
    card = json.loads((model_dir / "card.json").read_text())
    assert card["metrics"]["fp32"] == cards["qa"]["metrics"]["fp32"]
    assert card["parity"] == cards["qa"]["parity"]
    assert set(card["metrics"]["int8"]) == set(cards["qa"]["metrics"]["int8"])


def test_int8_sensitivity_probe_runs_on_qa(trained: tuple[Path, dict[str, Any]], data_dir: Path) -> None:
    out, _ = trained
    probe = [
        "slmesh.research.probes",
        "int8-sensitivity",
        str(out / "qa"),
        "--extra",
        "10",
        "--data-dir",
        str(data_dir),
    ]
    rows = [json.loads(line) for line in _run(*probe, "--match", "layer.0/output/dense")]
    assert [r["kept_fp32"] for r in rows] == ["all int8", "export setting", "/bert/encoder/layer.0/output/dense/MatMul"]
    assert not (out / "qa" / "model_probe.onnx").exists()


def test_held_out_wikipedia_articles_leave_training_for_the_dev_sets(tmp_path: Path) -> None:
    from slmesh.training import qa

    rows = _qa_rows(random.Random(1), 12)
    for i, row in enumerate(rows):
        row["title"] = "de"[i % 2] if i < 6 else "abc"[i % 3]  # crc32 % 6: d and e are 0, a b c are not
    for name in qa.TRAIN_FILES + qa.DEV_FILES:
        _write(tmp_path / name, rows)
    trained_on = [r["title"] for r in qa.default_rows(tmp_path, (qa.WIKI_FILE,))]
    held_out = [r["title"] for r in qa.dev_sets(tmp_path)[qa.WIKI_DEV]]
    assert sorted(held_out) == list("dddeee") and sorted(trained_on) == list("aabbcc")
    assert len(qa.default_rows(tmp_path, (qa.TRAIN_FILES[1],))) == 12
    assert qa.WIKI_DEV not in qa.dev_sets(tmp_path, wiki_dev=False)


def test_a_kept_node_missing_from_the_graph_is_reported(trained: tuple[Path, dict[str, Any]]) -> None:
    from slmesh.training.export import kept_nodes

    out, _ = trained
    fp32 = out / "sentiment" / "model_fp32.onnx"
    with pytest.warns(UserWarning, match="/transformer/layer.0/ffn/lin2/"):
        kept = kept_nodes(fp32, ("/layer.0/output/dense/", "/transformer/layer.0/ffn/lin2/"))
    assert kept == ["/bert/encoder/layer.0/output/dense/MatMul"]


def _logits(model: Path) -> Any:
    import numpy as np

    from slmesh.runtime import new_session

    batch = {
        "input_ids": np.array([[2, 7, 11, 12, 3], [2, 13, 14, 3, 0]], dtype=np.int64),
        "attention_mask": np.array([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]], dtype=np.int64),
        "token_type_ids": np.zeros((2, 5), dtype=np.int64),
    }
    return new_session(model).run(None, batch)[0]


def _continue(
    base: Path, data: Path, start: Path, out: Path, *extra: str, skill: str = "sentiment"
) -> tuple[dict[str, Any], Path]:
    """Training that starts from an export; its card and its own fp32 export."""
    small = ("--no-imdb",) if skill == "sentiment" else ("--limit", "60")
    card = _train(skill, base, data, out, *small, "--init-onnx", str(start), *extra)
    return card, out / skill / "model_fp32.onnx"


def test_training_can_continue_from_an_exported_model(
    trained: tuple[Path, dict[str, Any]], tiny_base: Path, data_dir: Path, tmp_path: Path
) -> None:
    from slmesh.runtime import sha256

    start = trained[0] / "sentiment" / "model_fp32.onnx"
    # Given a trained export, when training goes on from it at learning rate 0 (another seed: a fresh head differs),
    card, after = _continue(tiny_base, data_dir, start, tmp_path, "--lr", "0", "--seed", "14")
    # then the new export computes what the old one did.
    assert abs(_logits(start) - _logits(after)).max() < 1e-5
    assert card["training"]["init_onnx"]["sha256"] == sha256(start)
    assert f"Continued from `{start}`" in (tmp_path / "sentiment" / "README.md").read_text()


def test_a_cut_export_goes_on_at_its_own_depth(
    trained: tuple[Path, dict[str, Any]], tiny_base: Path, data_dir: Path, tmp_path: Path
) -> None:
    start = trained[0] / "sentiment" / "model_fp32.onnx"
    cut, cut_file = _continue(tiny_base, data_dir, start, tmp_path / "cut", "--layers", "1")
    again, again_file = _continue(tiny_base, data_dir, cut_file, tmp_path / "again", "--lr", "0")
    assert cut["training"]["encoder_layers"] == again["training"]["encoder_layers"] == 1
    assert abs(_logits(cut_file) - _logits(again_file)).max() < 1e-5


def test_qa_goes_on_from_an_export_and_keeps_wiki_dev_only_if_that_model_held_it_out(
    trained: tuple[Path, dict[str, Any]], tiny_base: Path, data_dir: Path, tmp_path: Path
) -> None:
    from slmesh.training.qa import WIKI_DEV

    start = trained[0] / "qa" / "model_fp32.onnx"
    card, after = _continue(tiny_base, data_dir, start, tmp_path / "held", "--lr", "0", skill="qa")
    assert abs(_logits(start) - _logits(after)).max() < 1e-5
    assert card["data"]["held_out"] == [WIKI_DEV] and WIKI_DEV in card["metrics"]["int8"]
    # A model trained before the split saw those articles, and so does any run that continues it.
    older = Path(shutil.copytree(trained[0] / "qa", tmp_path / "older"))
    older_card = json.loads((older / "card.json").read_text())
    del older_card["data"]["held_out"]
    (older / "card.json").write_text(json.dumps(older_card))
    card, _ = _continue(tiny_base, data_dir, older / start.name, tmp_path / "seen", skill="qa")
    assert card["data"]["held_out"] == [] and WIKI_DEV not in card["metrics"]["int8"]


def test_imdb_training_reviews_can_be_capped_without_touching_the_held_out_ones(tmp_path: Path) -> None:
    from slmesh.training import sentiment

    reviews = [{"text": f"review {i}", "label": i % 2} for i in range(10)]
    _write(tmp_path / "sentiment/sst2/train.jsonl.gz", [{"text": "fine", "label": 1}])
    _write(tmp_path / "sentiment/sst2/dev.jsonl", [{"text": "bad", "label": 0}])
    _write(tmp_path / "sentiment/imdb/train.jsonl.gz", reviews)
    full = sentiment.default_data(tmp_path, with_imdb=True, imdb_dev=3, seed=13)
    capped = sentiment.default_data(tmp_path, with_imdb=True, imdb_dev=3, seed=13, imdb_train=4)
    assert capped["imdb_dev"] == full["imdb_dev"] and len(full["train"]) == 1 + 7
    assert capped["train"] == full["train"][:5]


def test_a_soup_lies_between_its_two_models_and_is_measured_like_a_run(
    trained: tuple[Path, dict[str, Any]], tiny_base: Path, data_dir: Path, tmp_path: Path
) -> None:
    from slmesh.research.soup import interpolated
    from slmesh.training import sentiment as task
    from slmesh.training.common import start_from_onnx

    # Given two sentiment runs of the same network, trained with different seeds
    out, _ = trained
    start = out / "sentiment"
    _train(
        "sentiment",
        tiny_base,
        data_dir,
        tmp_path,
        "--no-imdb",
        "--seed",
        "5",
        *("--train-data", str(data_dir / "sentiment/sst2/train.jsonl.gz")),
        *("--train-data", str(data_dir / "sentiment/tweets/train.jsonl.gz")),
    )
    finish = tmp_path / "sentiment"

    def weights(folder: Path) -> dict[str, Any]:
        model = task.build_model(str(tiny_base), "gated")
        start_from_onnx(model, folder / "model_fp32.onnx")
        return {n: p.detach() for n, p in model.named_parameters()}

    ends = weights(start), weights(finish)
    # When their weights are mixed, then every weight is that share of the way from the start to the finish
    for alpha in (0.0, 0.25, 1.0):
        model, _ = interpolated(str(tiny_base), start, finish, alpha)
        for name, param in model.named_parameters():
            expected = (1 - alpha) * ends[0][name] + alpha * ends[1][name]
            assert torch.allclose(param, expected, atol=1e-6), (alpha, name)
    assert any(not torch.equal(ends[0][n], ends[1][n]) for n in ends[0]), "the two runs differ"
    # And with the neutral row kept, the head's gate row is the finish's while every other weight is still mixed
    model, _ = interpolated(str(tiny_base), start, finish, 0.25, neutral_from_finish=True)
    kept = dict(model.named_parameters())
    for name in ("classifier.weight", "classifier.bias"):
        assert torch.equal(kept[name][0], ends[1][name][0]), name
        assert torch.allclose(kept[name][1], 0.75 * ends[0][name][1] + 0.25 * ends[1][name][1], atol=1e-6), name
    body = "bert.encoder.layer.0.attention.self.query.weight"
    assert torch.allclose(kept[body], 0.75 * ends[0][body] + 0.25 * ends[1][body], atol=1e-6)
    # And the soup command exports, calibrates and measures the mix into a card of its own
    soup = tmp_path / "soup"
    _run(
        *("slmesh.research.soup", "--start", str(start), "--finish", str(finish), "--alpha", "0.5"),
        *("--out", str(soup), "--base-model", str(tiny_base), "--data-dir", str(data_dir), "--threads", "1"),
    )
    card = json.loads((soup / "card.json").read_text())
    assert card["soup"]["alpha"] == 0.5 and card["soup"]["start"]["path"] == str(start / "model_fp32.onnx")
    assert set(card["metrics"]["int8"]) == {"sst2_dev", "tweets_dev"}
    assert card["inference"]["temperature"] == card["soup"]["calibration_fit"]["temperature"] > 0
    assert "Weight soup" in (soup / "README.md").read_text()


def test_a_router_soup_holds_the_mean_of_its_runs_and_is_measured_like_a_run(
    trained: tuple[Path, dict[str, Any]], tiny_base: Path, data_dir: Path, tmp_path: Path
) -> None:
    from slmesh.research.onnx_weights import state_dict_from_onnx
    from slmesh.research.router_soup import averaged

    # Given two router runs of the same network with different seeds, one of them kept only as int8 (as served)
    out, _ = trained
    first = _without_fp32(out / "router", tmp_path / "served")
    _train("router", tiny_base, data_dir, tmp_path, "--limit", "40", "--layers", "1", "--seed", "5")
    second = tmp_path / "router"
    ends = [state_dict_from_onnx(first / "model.onnx"), state_dict_from_onnx(second / "model_fp32.onnx")]
    assert any(not np.array_equal(ends[0][n], ends[1][n]) for n in ends[0]), "the two runs differ"
    # When their weights are averaged, then every weight is the mean of the two (the int8 one dequantised)
    model, card = averaged(str(tiny_base), [first, second])
    for name, param in model.named_parameters():
        assert np.allclose(param.detach().numpy(), (ends[0][name] + ends[1][name]) / 2, atol=1e-6), name
    assert card == json.loads((second / "card.json").read_text())
    # And the soup command exports, tunes, checks and measures the mean into a card of its own
    soup = tmp_path / "soup"
    _run(
        *("slmesh.research.router_soup", str(first), str(second), "--out", str(soup)),
        *("--base-model", str(tiny_base), "--threads", "1"),
    )
    made = json.loads((soup / "card.json").read_text())
    assert [r["path"] for r in made["soup"]["runs"]] == [str(first / "model.onnx"), str(second / "model_fp32.onnx")]
    exported = state_dict_from_onnx(soup / "model_fp32.onnx")
    for name, param in model.named_parameters():
        assert np.allclose(exported[name], param.detach().numpy(), atol=1e-6), name
    assert "router_handwritten_test" in made["metrics"]["int8"] and 0.0 <= made["parity"]["same_skills"] <= 1.0
    assert "Weight soup" in (soup / "README.md").read_text()


def test_a_router_soup_refuses_runs_of_another_network_and_a_run_named_twice(
    trained: tuple[Path, dict[str, Any]], tiny_base: Path, tmp_path: Path
) -> None:
    from slmesh.research.router_soup import averaged

    # Given a router run and a copy of it whose card says it reads a different context marker
    out, _ = trained
    other = tmp_path / "other"
    shutil.copytree(out / "router", other)
    card = json.loads((other / "card.json").read_text())
    card["inference"]["context_marker"] = "another marker"
    (other / "card.json").write_text(json.dumps(card))
    # Then the two are not averaged, nor is one run with itself
    with pytest.raises(SystemExit, match="not the network"):
        averaged(str(tiny_base), [out / "router", other])
    with pytest.raises(SystemExit, match="named twice"):
        averaged(str(tiny_base), [out / "router", out / "router"])


def test_the_neutral_row_a_soup_keeps_is_the_linear_head_s_neutral_class_or_the_gated_head_s_gate() -> None:
    from slmesh.research.soup import _neutral_row

    assert _neutral_row("polar_ce", ["negative", "neutral", "positive"]) == 1
    assert _neutral_row("plain_ce", ["neutral", "negative", "positive"]) == 0
    assert _neutral_row("gated", ["negative", "neutral", "positive"]) == 0


def test_prompts_without_a_subject_label_teach_the_skill_head_and_not_the_tagger(tiny_base: Path) -> None:
    from slmesh.training.common import fast_tokenizer, pad_features
    from slmesh.training.router_model import RouterModel, featurize

    # Given a batch of written prompts only, none with a subject span
    rows = [
        {"prompt": "the train is late again", "tasks": ["sentiment"], "targets": {"sentiment": "subject"}},
        {"prompt": "what time is the next train", "tasks": ["qa"], "targets": {}},
    ]
    rows = [{**r, "subject_start": 0, "subject_end": 0, "subject_labelled": False} for r in rows]
    features = featurize(fast_tokenizer(str(tiny_base)), rows, ["sentiment", "qa", "summarize"], 64)
    assert all(label == -100.0 for f in features for label in f["subject_labels"])
    batch = pad_features(features, label_keys=("skill_labels", "target_labels"), token_label_keys=("subject_labels",))
    torch.manual_seed(0)
    model = RouterModel(transformers.AutoModel.from_pretrained(str(tiny_base), add_pooling_layer=False), 3)
    # When the model learns from it
    loss = model(**batch)["loss"]
    loss.backward()
    # Then the loss is a number and only the skill and target heads move
    assert torch.isfinite(loss)
    assert model.subject_head.weight.grad is not None and float(model.subject_head.weight.grad.abs().sum()) == 0.0
    assert model.skill_head.weight.grad is not None and float(model.skill_head.weight.grad.abs().sum()) > 0.0
