"""Crash consistency under SIGKILL: real ``sidecar`` processes killed at random moments.

1. ``sidecar index`` on a generated data root (``chatgen.py``: two users, characters, chats with
   swipes, per-swipe ``extra`` namespaces and chat-level ones, a large chat; plus a group chat and
   an odd namespace name), killed at a random moment of its work (the delay is drawn over a clean
   run's measured duration), restarted, killed again until a run finishes; the database folder's
   canonical dump (``tests/dbdump.py``) must equal the clean run's, whole. Repeated on fresh
   folders until ``--kills`` kills are done.
2. ``sidecar run`` while SillyTavern-style saves go on (extra data changed, messages added and
   deleted, swipes added, chats created, renamed by copy + delete, deleted), killed at random
   moments and restarted ``--kills`` times; once the saves stop and a last daemon has caught up,
   the current state (every chat, message, per-swipe and chat-level value) must equal a clean
   ``sidecar index`` of the final files, and every version and history record must be
   well-formed (each version rebuilds byte for byte to what was recorded for it).
3. The value-tracker API: four clients write (data keys, merge, override, remove, deletes,
   characters and instances) while the daemon is killed at a random moment, ``--kills`` times;
   after each restart every write answered 200 must be there with its value, and the write in
   flight at the kill must be there whole or not at all.

Prints kills, runs, time per run, whether the dumps are equal, acknowledged writes checked and
lost; exits 1 on any mismatch.

Run:  python benchmarks/crash.py [--kills 30] [--seed 1] [--size 0.02] [--quick] [--keep DIR]
(``--size`` is chatgen's scale; ``--quick``: 5 kills of each kind on a smaller root.)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.* (shared machinery)

import chatgen

from tests import handsoff
from tests.crash_report import KillReport
from tests.crash_saves import small_root
from tests.crash_scenarios import daemon_kills, index_kills, tracker_kills


def data_root(root: Path, scale: float, seed: int) -> str:
    """chatgen's corpus for ``default-user`` (with its large chat), a smaller one for ``bob``,
    and :func:`small_root`'s chats (``alice``, a group chat, an odd namespace name)."""
    chatgen.generate(root, scale, seed)
    other = root.with_name(root.name + "-bob")
    chatgen.generate(other, scale / 2, seed + 1, with_big=False)
    (other / "default-user").rename(root / "bob")
    shutil.rmtree(other)
    small_root(root, seed, chats=6, messages=80, size=100)
    files = list(root.rglob("*.jsonl"))
    size = sum(path.stat().st_size for path in files)
    return f"{len(files)} chats, {size / 1e6:.1f} MB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=30, help="kills of each kind (default 30)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", type=float, default=0.02, help="chatgen scale (default 0.02)")
    parser.add_argument("--quick", action="store_true", help="5 kills of each kind, small root")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    kills, scale = (5, min(args.size, 0.01)) if args.quick else (args.kills, args.size)
    work = args.keep or Path(tempfile.mkdtemp(prefix="sidecar-crash-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    reports: list[KillReport] = []
    manifests: list[handsoff.Manifest] = []  # sidecar must leave SillyTavern's files alone
    try:
        root = work / "index-root"
        print(f"data root for sidecar index: {data_root(root, scale, args.seed)}")
        manifests.append(handsoff.track(handsoff.Manifest(root)))
        reports.append(index_kills(root, work / "index", kills, args.seed))
        print(reports[-1].summary())
        root = work / "daemon-root"
        print(f"data root for sidecar run: {data_root(root, scale / 2, args.seed + 7)}")
        manifests.append(handsoff.track(handsoff.Manifest(root)))
        reports.append(daemon_kills(root, work / "daemon", kills, args.seed, life=2.0))
        print(reports[-1].summary())
        root = work / "tracker-root"
        (root / "default-user" / "chats").mkdir(parents=True)
        manifests.append(handsoff.track(handsoff.Manifest(root)))
        reports.append(tracker_kills(root, work / "tracker", kills, args.seed, life=1.5))
        print(reports[-1].summary())
        unchanged = handsoff.check(*manifests)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"{'scenario':<42} {'kills':>5} {'runs':>5} {'s/run':>6} {'equal':>6}")
    for report in reports:
        per_run = sum(report.run_seconds) / max(len(report.run_seconds), 1)
        equal = "yes" if report.equal else "NO"
        print(f"{report.name:<42} {report.kills:>5} {report.runs:>5} {per_run:>6.2f} {equal:>6}")
    tracker = reports[-1].notes
    print(f"acknowledged writes checked: {tracker['acknowledged writes checked']}, "
          f"lost: {tracker['lost']}, half-applied: {tracker['half-applied']}")  # fmt: skip
    print(f"total {time.monotonic() - started:.0f} s")
    failed = [line for report in reports for line in report.mismatches]
    for line in failed[:50]:
        print(f"MISMATCH {line}")
    return 1 if failed or not unchanged else 0


if __name__ == "__main__":
    sys.exit(main())
