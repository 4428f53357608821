"""What the indexer benchmarks share: the indexer built as the CLI builds it, timing, peak RSS."""

from __future__ import annotations

import cProfile
import pstats
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sidecar.config import Settings
from sidecar.daemon.wiring import create_indexer, create_registry, open_catalog, open_line_store
from sidecar.indexer.indexer import ChatIndexer
from sidecar.sillytavern.discovery import ChatLocation, locate_chat

T = TypeVar("T")


@contextmanager
def opened(root: Path, db_dir: Path, **index: Any) -> Iterator[ChatIndexer]:
    """The indexer as ``sidecar index`` builds it (settings -> registry, catalog -> indexer),
    with these ``index.*`` settings."""
    settings = Settings.model_validate({
        "storage": {"database_dir": str(db_dir)},
        "sillytavern": {"data_root": str(root)},
        "index": index,
    })  # fmt: skip
    registry = create_registry(settings)
    registry.open()
    catalog = open_catalog(settings)
    line_store = open_line_store(settings)
    try:
        yield create_indexer(settings, registry, catalog, line_store, root)
    finally:
        line_store.close()
        catalog.close()
        registry.close()


def location(indexer: ChatIndexer, path: Path) -> ChatLocation:
    found = locate_chat(indexer.root, path, indexer.discovery)
    assert found is not None, path
    return found


def timed(call: Callable[[], T], profile: bool = False) -> tuple[T, float]:
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    value = call() if profiler is None else profiler.runcall(call)
    seconds = time.perf_counter() - started
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    return value, seconds


def vm_hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
