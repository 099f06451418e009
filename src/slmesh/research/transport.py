"""Packs a base checkpoint small enough to travel to a lent GPU machine, and unpacks it there.

Weights go as float16: training runs in bfloat16 autocast, so the rounding is below what training itself keeps.
"""

from __future__ import annotations

import argparse
import lzma
import shutil
from pathlib import Path

import numpy as np

WEIGHTS = "model.safetensors"
PACKED = "model.fp16.safetensors.xz"
SIDE_FILES = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.txt",
    "special_tokens_map.json",
)


def pack(base_dir: Path, out_dir: Path) -> None:
    from safetensors.numpy import load_file, save

    out_dir.mkdir(parents=True, exist_ok=True)
    weights = load_file(str(base_dir / WEIGHTS))
    halved = {k: v.astype(np.float16) if v.dtype == np.float32 else v for k, v in weights.items()}
    (out_dir / PACKED).write_bytes(lzma.compress(save(halved), preset=6))
    for name in SIDE_FILES:
        if (base_dir / name).is_file():
            shutil.copy2(base_dir / name, out_dir / name)


def unpack(packed_dir: Path, out_dir: Path) -> None:
    from safetensors.numpy import load, save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    weights = load(lzma.decompress((packed_dir / PACKED).read_bytes()))
    save_file(
        {k: v.astype(np.float32) if v.dtype == np.float16 else v for k, v in weights.items()},
        str(out_dir / WEIGHTS),
    )
    for name in SIDE_FILES:
        if (packed_dir / name).is_file():
            shutil.copy2(packed_dir / name, out_dir / name)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m slmesh.research.transport", description=__doc__)
    parser.add_argument("action", choices=["pack", "unpack"])
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    args = parser.parse_args()
    (pack if args.action == "pack" else unpack)(args.source, args.dest)


if __name__ == "__main__":
    main()
