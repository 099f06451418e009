"""What the deployment carries: model files on disk and, where a Docker engine runs, image sizes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from slmesh.runtime import MODEL_FILE, TOKENIZER_FILE, read_card

IMAGE_PREFIX = "slmesh"


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


def image_sizes() -> dict[str, Any]:
    """Sizes of local images named slmesh*, or why there are none to report."""
    docker = shutil.which("docker")
    if docker is None:
        return {"available": False, "reason": "no docker client on this machine"}
    listing = subprocess.run(
        [docker, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}\t{{.Size}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if listing.returncode != 0:
        return {"available": False, "reason": f"docker image ls failed: {listing.stderr.strip()[:200]}"}
    images = dict(line.split("\t", 1) for line in listing.stdout.splitlines() if line.startswith(IMAGE_PREFIX))
    if not images:
        return {"available": False, "reason": "no slmesh* images built yet"}
    return {"available": True, "images": images}
