"""Every fault case of issue 13, for real, with the closing table: fault -> detection -> what kept
working -> repair -> data lost.

Each damage case (``tests/faultcases.py``: random bytes over a page of the catalog, of an
extension database holding value-tracker data, of a namespace-only database and of the registry;
a truncated catalog and pack file; a deleted extension database, namespace database, ``lines/``)
damages a copy of one populated database folder, meets it with a real ``sidecar run``, checks the
health answer and every route's status (no 500), runs ``sidecar repair`` / ``sidecar restore-db``
where a person must, and checks that the index converges to a clean index of the same files, with
chatIds, versions and value-tracker data kept. Then a full disk: the database folder on a 30 MB
tmpfs, filled while the daemon runs (``tests/faultdisk.py``; needs root to mount).

Run:  python benchmarks/faults.py [--keep DIR] [--only NAME]
Exits 1 if a case fails (its assertion is printed in the table).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.* (shared machinery)

from tests import faultkit, handsoff
from tests.faultcases import CASES, make_world, run_case
from tests.faultdisk import run_disk_full, small_disk

COLUMNS = ("fault", "detection", "kept working", "repair", "data lost")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it")
    parser.add_argument("--only", help="one case by name (or 'disk full')")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="sidecar-faults-"))
    work.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, str]] = []
    failed = 0
    try:
        world = make_world(work / "world")
        manifest = handsoff.track(handsoff.Manifest(world["root"]))
        for name in CASES:
            if args.only and args.only != name:
                continue
            started = time.monotonic()
            try:
                row = run_case(name, world, work / name.replace(" ", "-"))
            except Exception as exc:
                failed += 1
                traceback.print_exc()
                row = {"fault": name, "detection": f"FAILED: {exc}"[:300]}
            print(f"{name}: {time.monotonic() - started:.1f} s", file=sys.stderr)
            rows.append(row)
        if not args.only or args.only == "disk full":
            root = work / "disk-root"
            faultkit.make_root(root)
            with small_disk(work / "disk") as disk:
                if disk is None:
                    rows.append({"fault": "disk full", "detection": "SKIPPED: cannot mount"})
                else:
                    try:
                        rows.append(run_disk_full(disk, root))
                    except Exception as exc:
                        failed += 1
                        traceback.print_exc()
                        rows.append({"fault": "disk full", "detection": f"FAILED: {exc}"[:300]})
        hands_off = handsoff.check(manifest)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in rows:
        cells = [row.get(c, "") if c != "kept working" else _kept(row) for c in COLUMNS]
        print("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    print(f"\n{len(rows) - failed} of {len(rows)} cases as expected (target: all, no data lost)")
    return 1 if failed or not hands_off else 0


def _kept(row: dict[str, str]) -> str:
    kept = row.get("kept working", "")
    failing = row.get("failed")
    return f"{kept} (answering {failing})" if failing and failing != "nothing" else kept


if __name__ == "__main__":
    sys.exit(main())
