"""What one kill scenario did and found (``tests/crash_scenarios.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.dbdump import Dump, differences

Log = Callable[[str], None]


@dataclass
class KillReport:
    name: str
    kills: int = 0
    runs: int = 0
    run_seconds: list[float] = field(default_factory=list)
    compared: int = 0
    mismatches: list[str] = field(default_factory=list)
    seconds: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def equal(self) -> bool:
        return self.compared > 0 and not self.mismatches

    @property
    def per_run(self) -> float:
        return sum(self.run_seconds) / max(len(self.run_seconds), 1)

    def summary(self) -> str:
        notes = "".join(f", {key}: {value}" for key, value in self.notes.items())
        return (
            f"{self.name}: {self.kills} kills, {self.runs} runs ({self.per_run:.2f} s per run), "
            f"{self.compared} comparisons, equal: {'yes' if self.equal else 'NO'}{notes}; "
            f"{self.seconds:.1f} s"
        )


def compare(report: KillReport, label: str, got: Dump, want: Dump, part: str | None) -> None:
    """Record a mismatch when the dumps differ (whole, or only their ``part``) or either of them
    has faults."""
    report.compared += 1
    for name, dump in (("killed", got), ("clean", want)):
        report.mismatches += [f"{label}: {name} run: {fault}" for fault in dump["faults"][:10]]
    if part is None:
        a = {key: value for key, value in got.items() if key != "faults"}
        b = {key: value for key, value in want.items() if key != "faults"}
    else:
        a, b = got[part], want[part]
    report.mismatches += [f"{label}: {line}" for line in differences(a, b)]
