"""One ONNX Runtime thread pool per process, shared by every session slmesh creates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

# A fresh interpreter: the pool is process-wide state, and the test session's pool is already sized.
PROBE = """
import json, sys
from pathlib import Path
import numpy as np
from slmesh.runtime import ModelStore, load_bundle, pool_size

models = Path(sys.argv[1])
before = pool_size()
own = load_bundle(models / "router", "router", threads=1)
first = ModelStore(models, 3)
second = ModelStore(models, 1)
feeds = {"input_ids": np.array([[101, 7592, 102]]), "attention_mask": np.ones((1, 3), dtype=np.int64)}
feeds["token_type_ids"] = np.zeros((1, 3), dtype=np.int64)
shared = load_bundle(models / "router", "router")
outputs = [b.run(feeds)["skill_logits"] for b in (own, first.get("router"), second.get("router"), shared)]
print(json.dumps({"before": before, "first": first.threads, "second": second.threads, "after": pool_size(),
                  "same": all(np.allclose(o, outputs[0], atol=1e-4) for o in outputs)}))
"""


def test_the_first_store_sizes_the_pool_every_later_session_shares(models_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(models_dir)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["before"] is None
    assert (report["first"], report["second"], report["after"]) == (3, 3, 3)
    assert report["same"], "a session on the shared pool answered differently from one with its own threads"
