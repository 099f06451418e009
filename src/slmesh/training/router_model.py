"""The router network: a BERT encoder with a multi-label skill head, a per-token subject head and a target head
(per skill: does it work on the request's attached context rather than on the prompt's subject)."""

from __future__ import annotations

import random
from typing import Any

import torch
from torch import nn

from slmesh.skills.router import encode_prompts, seen_positions
from slmesh.training.common import (
    ListDataset,
    RunConfig,
    fast_tokenizer,
    keep_layers,
    pad_features,
    trained,
    training_arguments,
)


class RouterModel(nn.Module):
    def __init__(self, encoder: Any, num_skills: int) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(0.1)
        self.skill_head = nn.Linear(hidden, num_skills)
        self.subject_head = nn.Linear(hidden, 1)
        self.target_head = nn.Linear(hidden, num_skills)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        token_type_ids: torch.Tensor,
        skill_labels: torch.Tensor | None = None,
        subject_labels: torch.Tensor | None = None,
        target_labels: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        hidden = self.encoder(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        skill_logits = self.skill_head(self.dropout(pooled))
        subject_logits = self.subject_head(self.dropout(hidden)).squeeze(-1)
        target_logits = self.target_head(self.dropout(pooled))
        out = {"skill_logits": skill_logits, "subject_logits": subject_logits, "target_logits": target_logits}
        if skill_labels is not None and subject_labels is not None and target_labels is not None:
            skill_loss = nn.functional.binary_cross_entropy_with_logits(skill_logits, skill_labels.float())
            # A batch of written prompts only has no subject labels at all.
            valid = subject_labels >= 0
            subject_loss = (
                nn.functional.binary_cross_entropy_with_logits(subject_logits[valid], subject_labels[valid].float())
                if valid.any()
                else subject_logits.sum() * 0.0
            )
            # A target is learnt only for the skills a prompt asks for: for the others there is none.
            asked = target_labels >= 0
            target_loss = (
                nn.functional.binary_cross_entropy_with_logits(target_logits[asked], target_labels[asked].float())
                if asked.any()
                else target_logits.sum() * 0.0
            )
            out["loss"] = skill_loss + subject_loss + target_loss
        return out


class ExportableRouter(nn.Module):
    """Tuple outputs for the ONNX exporter."""

    def __init__(self, model: RouterModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.model(input_ids, attention_mask, token_type_ids)
        return out["skill_logits"], out["subject_logits"], out["target_logits"]


def featurize(
    tokenizer: Any, rows: list[dict[str, Any]], skills: list[str], max_length: int, context_marker: str | None = None
) -> list[dict[str, Any]]:
    """Rows as the router reads them (`encode_prompts`: the marker after a prompt whose row `has_context`)."""
    attached = [bool(r.get("has_context")) for r in rows]
    encodings = encode_prompts(tokenizer, [r["prompt"] for r in rows], attached, context_marker)
    features = []
    for row, encoding in zip(rows, encodings, strict=True):
        start, end = row.get("subject_start", 0), row.get("subject_end", 0)
        labelled = row.get("subject_labelled", True)
        subject = [
            -100.0 if seq != 0 or not labelled else float(end > start and s < end and e > start)
            for (s, e), seq in zip(encoding.offsets, encoding.sequence_ids, strict=True)
        ]
        seen = seen_positions(len(encoding.ids), max_length)
        ids = [encoding.ids[p] for p in seen]
        subject = [subject[p] for p in seen]
        features.append(
            {
                "input_ids": ids,
                "attention_mask": [1] * len(ids),
                "token_type_ids": [encoding.type_ids[p] for p in seen],
                "skill_labels": [float(s in row["tasks"]) for s in skills],
                "subject_labels": subject,
                "target_labels": [
                    float(row.get("targets", {}).get(s) == "context") if s in row["tasks"] else -100.0 for s in skills
                ],
            }
        )
    return features


def train(
    cfg: RunConfig,
    train_rows: list[dict[str, Any]],
    skills: list[str],
    num_layers: int,
    max_length: int = 256,
    context_marker: str | None = None,
) -> tuple[Any, Any, dict[str, Any]]:
    from transformers import AutoModel, Trainer, set_seed

    set_seed(cfg.seed)
    tokenizer = fast_tokenizer(cfg.base_model)
    encoder = AutoModel.from_pretrained(cfg.base_model, add_pooling_layer=False)
    keep_layers(encoder, num_layers)
    # Frozen word vectors keep an unseen instruction word close to the trained ones it resembles,
    # which is what lets the router generalise beyond its templates; it also makes CPU training fast.
    encoder.embeddings.word_embeddings.weight.requires_grad = False
    model = RouterModel(encoder, len(skills))
    features = featurize(tokenizer, train_rows, skills, max_length, context_marker)
    random.Random(cfg.seed).shuffle(features)
    trainer = Trainer(
        model=model,
        args=training_arguments(
            cfg,
            cfg.out_dir / "work",
            label_names=["skill_labels", "subject_labels", "target_labels"],
            train_sampling_strategy="group_by_length",
        ),
        train_dataset=ListDataset(features),
        data_collator=lambda f: pad_features(
            f, label_keys=("skill_labels", "target_labels"), token_label_keys=("subject_labels",)
        ),
    )
    result = trainer.train()
    summary = {
        "train_prompts": len(features),
        **trained(trainer, result, encoder.config.num_hidden_layers),
    }
    inference: dict[str, Any] = {"skills": skills, "max_length": max_length, "context_marker": context_marker}
    model.cpu().eval()
    return ExportableRouter(model).eval(), tokenizer, {"summary": summary, "inference": inference}
