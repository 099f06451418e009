"""No secret in the repository beyond the audited baseline (fake test credentials), found by detect-secrets.

Renew the baseline after auditing a finding: `detect-secrets scan --baseline .secrets.baseline $(git ls-files)`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / ".secrets.baseline"


def _findings(baseline: Path) -> set[tuple[str, str]]:
    results = json.loads(baseline.read_text())["results"]
    return {(path, found["hashed_secret"]) for path, secrets in results.items() for found in secrets}


def test_no_secret_beyond_the_audited_baseline(tmp_path: Path) -> None:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing says which files are the repository's")
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    files = [f for f in files if f != BASELINE.name]
    scanned = tmp_path / "baseline.json"
    shutil.copy(BASELINE, scanned)
    # Rescanning with the baseline keeps its filters (model files, card digests) and finds what is there now.
    tool = Path(sys.executable).parent / "detect-secrets"
    subprocess.run([str(tool), "scan", "--baseline", str(scanned), *files], cwd=ROOT, check=True, timeout=300)
    new = _findings(scanned) - _findings(BASELINE)
    assert not new, f"possible secrets (audit, then renew the baseline): {sorted(new)}"
