"""``benchmarks/index_split.py`` briefly, so the measurement behind issue 15's closing note stays
reproducible: both modes must index every chat and leave the same databases (``tests.dbdump``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SPLIT = Path(__file__).resolve().parent.parent / "benchmarks" / "index_split.py"


def test_index_split_smoke(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SPLIT), "--scale", "0.02", "--runs", "1"],
        capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    found = re.search(
        r"^  the same databases in both modes: yes \((\d+) extension databases, ([\d,]+) "
        r"message values\)$",
        out,
        re.M,
    )
    assert found, out
    assert int(found[1]) == 2, out
    assert int(found[2].replace(",", "")) > 1000, out
    assert re.search(r"^  split .* child CPU median [\d.]+ s; parent waited median", out, re.M)
    assert re.search(r"^SillyTavern files unchanged: \d+ files verified$", out, re.M), out
    assert list(tmp_path.iterdir()) == [], "the benchmark removes its folder"
