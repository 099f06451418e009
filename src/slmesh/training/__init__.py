"""Fine-tuning, export, quantisation and model cards. Needs the `training` extra (torch, transformers)."""
