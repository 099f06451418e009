"""The served models (router, sentiment, qa), shipped as package data of the slmesh distribution.

Each folder holds `model.onnx`, `tokenizer.json`, `card.json` (the settings the runtime reads and every measurement)
and `README.md` (the card rendered); `slmesh.config.default_models_dir` finds this folder through the package.
"""
