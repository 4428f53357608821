"""The full index of ``index.py``: two passes over the data root into fresh database folders,
judged on the faster, as the baselines are (best of two). The first pass also samples the
database folder's disk use and is the one kept for the rest of the benchmark."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from disk_use import PeakSampler, folder_bytes
from index_common import opened, timed

from sidecar.indexer.scan import ScanSummary, full_scan

MB = 1e6
RUNS = 2


@dataclass
class FullIndex:
    summary: ScanSummary
    runs: list[tuple[float, float]]  # (wall seconds, CPU seconds of the process) per pass
    peak: int  # bytes of the database folder at its largest during the first pass
    samples: int
    at_rest: int  # bytes of the database folder after the first pass

    @property
    def seconds(self) -> float:
        return min(wall for wall, _ in self.runs)

    @property
    def cpu(self) -> float:
        return min(self.runs)[1]


def full_index(root: Path, db_dir: Path, profile: bool) -> FullIndex:
    """``RUNS`` passes; the first into ``db_dir`` (kept), the others into a sibling removed
    afterwards."""
    runs: list[tuple[float, float]] = []
    summary: ScanSummary | None = None
    peak = samples = 0
    for run in range(RUNS):
        target = db_dir if run == 0 else db_dir.with_name(f"{db_dir.name}-{run + 1}")
        with PeakSampler(target) as sampler, opened(root, target) as indexer:
            cpu_started = time.process_time()
            found, seconds = timed(lambda: full_scan(indexer), profile and run == 0)
            runs.append((seconds, time.process_time() - cpu_started))
        if run == 0:
            summary, peak, samples = found, sampler.peak, sampler.samples
        else:
            shutil.rmtree(target)
    assert summary is not None
    return FullIndex(summary, runs, peak, samples, folder_bytes(db_dir))


def db_sizes(db_dir: Path) -> list[tuple[str, int]]:
    return sorted((p.name, p.stat().st_size) for p in db_dir.iterdir() if p.is_file())


def print_sizes(db_dir: Path, total: int) -> None:
    """The database files next to the corpus size."""
    sizes = db_sizes(db_dir)
    print("database files:")
    for name, size in sizes:
        print(f"  {name:<28} {size / MB:9,.1f} MB  {size / total:6.1%} of corpus")
    db_total = sum(size for _, size in sizes)
    print(f"  {'total':<28} {db_total / MB:9,.1f} MB  {db_total / total:6.1%} of corpus "
          f"({total / MB:,.1f} MB)")  # fmt: skip
