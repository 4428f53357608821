"""A short run of the damage cases (``tests/faultcases.py``; ``benchmarks/faults.py`` runs them
all): one of each family of file, damaged for real, met by a real ``sidecar run``, repaired."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.faultcases import make_world, run_case

pytestmark = pytest.mark.xdist_group("faults")  # one worker builds the shared world once

SUITE = ("catalog page", "extension page", "namespace db deleted", "lines deleted")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return make_world(tmp_path_factory.mktemp("faults"))


@pytest.mark.parametrize("name", SUITE)
def test_damage_is_named_isolated_and_repaired(
    name: str, world: dict[str, Any], tmp_path: Path
) -> None:
    row = run_case(name, world, tmp_path)
    assert row["data lost"] in ("none", "version 1 of one chat (its lines are in no file any more)")
