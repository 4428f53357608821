"""Lines lost from the line store that ``sidecar repair`` has reported and a person has seen.

``lines/lost.json`` maps each pack that lost bytes to the bytes it still held when the loss was
reported. While a pack is as reported, the loss is not a health fault any more (the versions
that need those lines are listed by ``sidecar status`` and answer 503 naming them); a pack that
loses more bytes is a new fault.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from sidecar.recovery.pack_files import LINES_DIR, fsync_dir

ACK_FILE = "lost.json"
_SHOWN = re.compile(rf"{LINES_DIR}/pack-(\d{{6}})\.bin")

__all__ = ["LINES_DIR", "acknowledge", "acknowledged", "pack_number"]


def pack_number(shown: str) -> int | None:
    match = _SHOWN.fullmatch(shown)
    return int(match.group(1)) if match else None


def acknowledged(database_dir: Path) -> dict[int, int]:
    try:
        data = json.loads((database_dir / LINES_DIR / ACK_FILE).read_text(encoding="utf-8"))
        return {int(pack): int(size) for pack, size in data.items()}
    except (OSError, ValueError, AttributeError):
        return {}


def acknowledge(database_dir: Path, lost: dict[int, int]) -> None:
    folder = database_dir / LINES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{ACK_FILE}.tmp"
    tmp.write_text(json.dumps({str(k): v for k, v in sorted(lost.items())}), encoding="utf-8")
    os.replace(tmp, folder / ACK_FILE)
    fsync_dir(folder)
