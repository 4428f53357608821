"""A chat version whose lines are gone from the line store answers so, naming the version."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sidecar.errors import Damaged, LinesMissing


@contextmanager
def lines_needed(chat_id: str, version: int) -> Iterator[None]:
    """A version whose lines are gone answers so, naming the version (not a 500)."""
    try:
        yield
    except Damaged as exc:
        raise LinesMissing(
            f"version {version} of chat {chat_id} cannot be rebuilt: lines missing "
            f"({exc.file}); the chat's next save stores the lines its file still has"
        ) from exc
    except KeyError as exc:  # no line reference at all (lost with a damaged catalog)
        raise LinesMissing(
            f"version {version} of chat {chat_id} cannot be rebuilt: lines missing"
        ) from exc


# -- diff ----------------------------------------------------------------------------------------
