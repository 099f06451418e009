"""What the deployment carries: model files on disk and, where a container engine can be had, the images."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slmesh.runtime import MODEL_FILE, TOKENIZER_FILE, read_card


def model_files(models_dir: Path) -> dict[str, Any]:
    sizes: dict[str, Any] = {}
    for folder in sorted(models_dir.iterdir()):
        model = folder / MODEL_FILE
        if not model.is_file():
            continue
        skill = folder.name
        card = read_card(model.parent)
        sizes[skill] = {
            "model_mb": round(model.stat().st_size / 1e6, 1),
            "tokenizer_mb": round((model.parent / TOKENIZER_FILE).stat().st_size / 1e6, 1),
            "fp32_mb": round(card["fp32_bytes"] / 1e6, 1) if "fp32_bytes" in card else None,
            "trained_with": card.get("training", {}).get("command"),
        }
    return sizes


def images(quick: bool, runs: int, warmup: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Each function image: layers added to the base, build times, cold start and warm invokes, or why not."""
    if quick:
        return {"available": False, "reason": "not measured in --quick mode (`make images` measures them alone)"}
    from slmesh.bench import images as built_images
    from slmesh.bench.engine import EngineUnavailableError

    try:
        return {"available": True, **built_images.measure(runs, warmup, cold=True, say=say)}
    except EngineUnavailableError as exc:
        return {"available": False, "reason": f"no container engine: {exc}"}
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        return {"available": False, "reason": f"{type(exc).__name__}: {str(exc)[-300:]}"}
