"""A full disk for real (``tests/faultdisk.py``): the database folder on a 30 MB tmpfs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import faultkit as fk
from tests.faultdisk import run_disk_full, small_disk


def test_full_disk_answers_507_keeps_reading_and_recovers_by_itself(tmp_path: Path) -> None:
    root = tmp_path / "st"
    fk.make_root(root)
    with small_disk(tmp_path / "disk") as disk:
        if disk is None:
            pytest.skip("cannot mount a tmpfs here (needs root and mount permission)")
        row = run_disk_full(disk, root)
    assert row["data lost"] == "none"
