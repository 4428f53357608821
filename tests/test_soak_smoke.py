"""The soak benchmark's machinery, briefly, so it does not rot: ``benchmarks/soak/soak.py`` for 5
seconds with 3 chats at 20 requests/s must end with no request error, the final index equal to
the files and the SillyTavern files unchanged."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parent.parent / "benchmarks" / "soak" / "soak.py"


def test_soak_smoke(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SOAK), "--seconds", "5", "--chats", "3", "--rate", "20",
         "--keep", str(tmp_path / "soak")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    out = done.stdout + done.stderr
    assert re.search(r"^requests: 100 answered in 5 s \(20\.0/s\), errors: 0;", out, re.M), out
    assert re.search(r"^PASS  errors: 0 ", out, re.M), out
    assert re.search(r"^PASS  final index equals the files +3/3 chats$", out, re.M), out
    assert re.search(r"^saves made: 15 \(5-5 per chat;", out, re.M), out
    assert "SillyTavern files unchanged: 3 files verified" in out, out
    assert re.search(r"^PASS  SIGTERM -> exit 0 ", out, re.M), out
    intervals = re.findall(r"^\[ 0:0\d\.\d\] requests +20 errors +0 ", out, re.M)
    assert len(intervals) == 5, out
