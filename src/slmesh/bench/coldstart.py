"""Cold start: a new `slmesh ask` process, from spawn to its answer on stdout."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from slmesh.bench.processes import read_line, slmesh_command, stop
from slmesh.bench.stats import ms_since
from slmesh.bench.workload import article_requests


def _first_answer_ms(command: list[str], timeout_s: float) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = read_line(process, timeout_s)
        elapsed = ms_since(started)
        _, err = process.communicate(timeout=timeout_s)
    finally:
        stop(process)
    if process.returncode != 0 or not line:
        raise RuntimeError(f"{' '.join(command[:5])}... exited {process.returncode}: {err.strip()[-300:]}")
    return elapsed


def measure(models_dir: Path, repeats: int, timeout_s: float = 60.0) -> dict[str, Any]:
    """Median of `repeats` starts; the page cache is warm after the first, as on a reused Lambda host."""
    prompt, context = article_requests()[0]
    ask = slmesh_command(models_dir, "ask", prompt, "--context", context)
    interpreter = [sys.executable, "-c", "print('ready', flush=True)"]
    answers = [_first_answer_ms(ask, timeout_s) for _ in range(repeats)]
    bare = [_first_answer_ms(interpreter, timeout_s) for _ in range(repeats)]
    return {
        "command": "slmesh ask <article prompt 1> --context <service update>",
        "repeats": repeats,
        "first_answer_ms": round(statistics.median(answers), 1),
        "samples_ms": [round(x, 1) for x in answers],
        "python_startup_ms": round(statistics.median(bare), 1),
    }
