"""Fixtures several test modules share (registered in ``tests/conftest.py``): ``h``, an index
harness on a SillyTavern folder and a database folder in ``tmp_path``; ``track``, hands-off
manifests that follow the test's own saves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import handsoff
from tests.index_harness import Harness

Track = Callable[[Path], handsoff.Manifest]


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path / "st", tmp_path / "db")
    yield harness
    harness.close()


@pytest.fixture
def track() -> Iterator[Track]:
    """``track(root)``: a manifest of ``root`` that follows the test's own saves."""
    made: list[handsoff.Manifest] = []

    def start(root: Path) -> handsoff.Manifest:
        made.append(handsoff.track(handsoff.Manifest(root)))
        return made[-1]

    yield start
    for manifest in made:
        handsoff.untrack(manifest)
