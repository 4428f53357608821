"""Writing a chat's batches on a helper thread while the walk parses the next batch.

The walk over a file is Python (JSON decoding, building rows) and holds the GIL; writing a batch
is mostly SQLite (``executemany``), which releases it, and deflate, which does too. So the batch
is handed to one helper thread and the walk goes on: a big chat is parsed on one core while the
previous batch is written on the other. One batch is in flight at a time, in order, inside the
same transactions as before (the commit protocol of ``update`` does not change): the walk waits
for it before handing over the next one and before anything else touches the databases.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

log = logging.getLogger(__name__)


class BatchWriter:
    """At most one batch job in flight on a helper thread (started on first use)."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future[None] | None = None

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` on the helper thread, after the previous one (whose error is raised)."""
        self.wait()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="index-batch")
        self._pending = self._pool.submit(job)

    def wait(self) -> None:
        """Until the job in flight is done; its error is raised here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Wait for any job in flight (on an error path: its own error was overtaken, and only
        logged) and stop the thread. Runs before the transactions end, so no job writes into a
        transaction that is already rolled back."""
        try:
            self.wait()
        except Exception as exc:  # the error that is propagating matters more
            log.debug("a batch write failed while an update was abandoned: %s", exc)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None
