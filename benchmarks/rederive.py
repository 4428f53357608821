"""Benchmark of applying changed index settings: re-deriving every chat, beside a full index.

On a generated data root (``chatgen.py``, without the 100 MB chat), in temporary folders:

1. full index into empty databases (the baseline: what a fresh start costs);
2. a second pass with nothing changed (what every start costs);
3. a pass after ``index.exclude_namespaces`` gained one of the corpus's namespaces: the namespace's
   values are retired into history, then every chat is re-derived from its file; time, ratio to
   the full index, chats re-derived, and change-feed events logged per chat (must be at most 1);
4. ``--reindex`` with the same settings (a forced re-derivation, nothing to relocate).

There is no speed target for a re-derivation (it runs once per settings change); the figures are
beside the full index so a regression shows. chatIds, message ids and version counts must be
unchanged by 3 and 4: the script checks it and exits non-zero otherwise.

Run:  python benchmarks/rederive.py [--scale 0.25] [--seed 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import chatgen
from index_common import opened
from sqlalchemy import Connection

from sidecar.indexer.scan import ScanSummary, full_scan
from tests import handsoff

MB = 1e6


def identity(conn: Connection) -> tuple[Any, ...]:
    """What a re-derivation must keep: chat ids and paths, message ids, version counts."""
    chats = conn.exec_driver_sql("SELECT chat_id, rel_path, version FROM chats ORDER BY 1").all()
    uids = conn.exec_driver_sql("SELECT chat_id, position, msg_uid FROM messages ORDER BY 1, 2")
    versions = conn.exec_driver_sql("SELECT count(*) FROM versions").scalar_one()
    return tuple(chats), tuple(uids.all()), versions


def last_event(conn: Connection) -> int:
    return int(conn.exec_driver_sql("SELECT coalesce(max(id), 0) FROM events").scalar_one())


def timed_pass(
    root: Path, db_dir: Path, title: str, *, reindex: bool = False, **index: Any
) -> tuple[ScanSummary, float, tuple[Any, ...], Counter[str]]:
    with opened(root, db_dir, **index) as indexer:
        with indexer.catalog.read() as conn:
            before = last_event(conn)
        started = time.perf_counter()
        summary = full_scan(indexer, reindex=reindex)
        seconds = time.perf_counter() - started
        with indexer.catalog.read() as conn:
            kept = identity(conn)
            rows = conn.exec_driver_sql(
                "SELECT chat_id, kind FROM events WHERE id > ?", (before,)
            ).all()
    per_chat = Counter(str(chat_id) for chat_id, _kind in rows)
    kinds = Counter(str(kind) for _chat, kind in rows)
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(summary.statuses.items()))
    print(f"\n== {title}")
    print(f"{seconds:.2f} s: {statuses}; re-derived {summary.rederived} chats"
          + (f" ({summary.rederive_reason})" if summary.rederive_reason else ""))  # fmt: skip
    print(f"events logged: {sum(kinds.values())} ({dict(kinds)}); most for one chat: "
          f"{max(per_chat.values(), default=0)}")  # fmt: skip
    return summary, seconds, kept, per_chat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="generate into DIR and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="sidecar-rederive-"))
    try:
        sys.exit(run(work, args))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, args: argparse.Namespace) -> int:
    root, db_dir = work / "data", work / "db"
    corpus = chatgen.generate(root, args.scale, args.seed, False)
    print(f"== data root: {len(corpus.chats)} chats, {corpus.total_bytes / MB:,.1f} MB "
          f"(scale {args.scale}, seed {args.seed}) in {work}")  # fmt: skip
    manifest = handsoff.track(handsoff.Manifest(root))  # sidecar must leave these files alone
    full, full_s, kept, _ = timed_pass(root, db_dir, "full index (baseline)")
    _, again_s, _, _ = timed_pass(root, db_dir, "second pass, nothing changed")
    dropped = full.namespaces[0]
    changed, change_s, after_change, per_chat = timed_pass(
        root, db_dir, f"settings changed: exclude_namespaces [{dropped}]",
        exclude_namespaces=[dropped],
    )  # fmt: skip
    _, reindex_s, after_reindex, per_chat_2 = timed_pass(
        root, db_dir, "--reindex", reindex=True, exclude_namespaces=[dropped]
    )
    print("\n== figures (noisy on a shared machine)")
    print(f"full index              {full_s:8.2f} s  (baseline)")
    print(f"pass with nothing to do {again_s:8.2f} s  {again_s / full_s:6.2f}x the full index")
    print(f"settings change         {change_s:8.2f} s  {change_s / full_s:6.2f}x the full index")
    print(f"--reindex               {reindex_s:8.2f} s  {reindex_s / full_s:6.2f}x the full index")
    ok = True
    for name, value in (("settings change", after_change), ("--reindex", after_reindex)):
        same = value == kept
        ok &= same
        print(f"{name}: chatIds, message ids and versions kept: {'yes' if same else 'NO'}")
    most = max([*per_chat.values(), *per_chat_2.values()], default=0)
    ok &= most <= 1 and changed.rederived == full.chats
    print(f"at most one event per re-derived chat: {'yes' if most <= 1 else 'NO'} (most {most})")
    ok &= handsoff.check(manifest)
    return 0 if ok else 1


if __name__ == "__main__":
    main()
