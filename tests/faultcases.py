"""The damage cases: real damage to each kind of file, met by a real ``sidecar run``.

For each: the health answer, the routes that fail (503/410, never 500) and those that keep
working, then ``sidecar repair`` / ``sidecar restore-db`` (where a person must run them) and the
index it converges to, against a clean index of the same files. ``tests/test_faults_damage.py``
runs a few of them; ``benchmarks/faults.py`` runs them all and prints the closing table.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests import faultkit as fk
from tests.dbdump import differences, dump_folder
from tests.live_server import wait_until

Damage = Callable[[Path], object]


@dataclass(frozen=True)
class Case:
    damage: Damage
    health: str  # what /healthz names at start ("" = healthy: healed by itself)
    fails: dict[str, int] = field(default_factory=dict)  # route key -> status while damaged
    repair: bool = True  # a person runs sidecar repair
    restore: bool = False  # value-tracker data comes back from the backup
    ids_kept: bool = True  # every chatId survives


def _pack(db: Path) -> Path:
    return db / "lines" / "pack-000001.bin"


CATALOG = {k: 503 for k in ("chats", "messages", "tracker rows", "recap rows", "old version",
                            "new version")}  # fmt: skip
CASES = {
    "catalog page": Case(lambda db: fk.smash_page(db / "sidecar.index.db", "chats"),
                         "sidecar.index.db is damaged", CATALOG),
    "catalog truncated": Case(lambda db: fk.truncate(db / "sidecar.index.db", 0.4),
                              "sidecar.index.db is damaged", CATALOG, ids_kept=False),
    "extension page": Case(lambda db: fk.smash_page(db / "tracker.db", "message_data"),
                           "tracker.db is damaged",
                           {"characters": 503, "data": 503, "tracker rows": 503}),
    "extension header": Case(lambda db: fk.smash_page(db / "tracker.db"), "tracker.db is damaged",
                             {"characters": 503, "data": 503, "tracker rows": 503}, restore=True),
    "extension deleted": Case(lambda db: (db / "tracker.db").unlink(), "tracker.db is damaged",
                              {"characters": 503, "data": 503, "tracker rows": 503}, repair=False,
                              restore=True),
    "namespace db page": Case(lambda db: fk.smash_page(db / "recap.db", "message_data"), "",
                              repair=False),
    "namespace db deleted": Case(lambda db: (db / "recap.db").unlink(), "", repair=False),
    "lines deleted": Case(lambda db: shutil.rmtree(db / "lines"), "lines/pack-000001.bin",
                          {"old version": 410}),
    "pack truncated": Case(lambda db: fk.truncate(_pack(db), 0.0), "lines/pack-000001.bin",
                           {"old version": 410}),
    "registry header": Case(lambda db: fk.smash_page(db / "sidecar.registry.db"),
                            "sidecar.registry.db is damaged", {"characters": 503, "data": 503}),
}  # fmt: skip


def make_world(base: Path) -> dict[str, Any]:
    """A data root, its populated database folder (with a backup), and a clean index of it."""
    root, db = base / "st", base / "db"
    fk.make_root(root)
    ids = fk.populate(db, root)
    made = fk.run_cli("backup", db_dir=db)
    assert made.returncode == 0, made.stderr
    clean = base / "clean"
    done = fk.run_cli("index", db_dir=clean, root=root)
    assert done.returncode == 0, done.stdout + done.stderr
    return {"root": root, "db": db, "ids": ids, "dump": dump_folder(db),
            "clean": dump_folder(clean), "tracker": fk.tracker_rows(db / "tracker.db")}  # fmt: skip


def routes(d: fk.Daemon) -> dict[str, int]:
    """Status of one request of each kind; the old version is the first chat's version 1."""
    one = fk.chat_ids(d).get("Sera/one") if d.api("GET", "/chats").status_code == 200 else "x"
    got = {
        "chats": d.api("GET", "/chats"),
        "messages": d.api("GET", f"/chats/{one}/messages"),
        "extensions": d.api("GET", "/extensions"),
        "characters": d.api("GET", "/characters", fk.TRACKER),
        "data": d.api("GET", "/instances/c0-i0/data", fk.TRACKER),
        "tracker rows": d.api("GET", f"/chats/{one}/messages/1/data/{fk.TRACKER}"),
        "recap rows": d.api("GET", f"/chats/{one}/messages/1/data/{fk.RECAP}"),
        "old version": d.api("GET", f"/chats/{one}/versions/1/file"),
        "new version": d.api("GET", f"/chats/{one}/versions/2/file"),
        "status": d.api("GET", "/status"),
    }
    for name, response in got.items():
        assert response.status_code < 500 or response.status_code == 503, (name, response.text)
        if response.status_code >= 400:
            assert "error" in response.json(), (name, response.text)
    return {name: response.status_code for name, response in got.items()}


def comparable(dump: dict[str, Any]) -> dict[str, Any]:
    """What a clean index of the same files must equal: chats and namespace rows."""
    exts = {
        name: {k: v for k, v in part.items() if k != "tracker"}
        for name, part in dump["current"]["extensions"].items()
        if ".damaged-" not in name and ".replaced-" not in name  # kept aside, not in use
    }
    return {"chats": dump["current"]["chats"], "extensions": exts}


def run_case(name: str, world: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    """Damage a copy of the world's folder, check everything, repair; returns the table row."""
    case = CASES[name]
    row = {"fault": name}
    db, root = tmp_path / "db", world["root"]
    shutil.copytree(world["db"], db)
    case.damage(db)
    with fk.Daemon(db, root) as d:
        d.wait_indexed(None)  # a damaged catalog catalogues nothing
        health = d.request("GET", "/healthz")
        if case.health:
            assert health.status_code == 503, health.text
            assert case.health in health.json()["reason"]
            assert "sidecar repair" in health.json()["reason"] or "restore-db" in health.text
        else:
            assert health.status_code == 200, health.text
        codes = routes(d)
        expected = {k: 200 for k in codes} | case.fails
        assert codes == expected, codes
        row["detection"] = (
            health.json()["reason"] if case.health else "none needed: healed at start"
        )
        row["kept working"] = ", ".join(k for k, v in codes.items() if v == 200)
        row["failed"] = ", ".join(f"{k} {v}" for k, v in codes.items() if v != 200) or "nothing"
        if case.health and "is damaged" in case.health:
            shown = case.health.split(" is damaged")[0]
            damaged = [f["file"] for f in d.api("GET", "/status").json()["storage"]["damaged"]]
            assert shown in damaged
    assert "Traceback" not in d.output
    row["repair"] = "automatic at start" if not case.health else "none"
    fixed_out = ""
    if case.repair:
        row["repair"] = "sidecar repair"
        if name == "catalog page":  # the dry run says what it would do and changes nothing
            before = (db / "sidecar.index.db").read_bytes()
            dry = fk.run_cli("repair", "--dry-run", db_dir=db, root=root)
            assert dry.returncode == 0, dry.stderr
            assert "would do:" in dry.stdout
            assert "sidecar.index.db is damaged" in dry.stdout
            assert (db / "sidecar.index.db").read_bytes() == before
        fixed = fk.run_cli("repair", db_dir=db, root=root)
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        assert "done:" in fixed.stdout
        fixed_out = fixed.stdout
    if case.restore:
        back = fk.run_cli("restore-db", fk.TRACKER, db_dir=db)
        assert back.returncode == 0, back.stdout + back.stderr
        row["repair"] = ("" if row["repair"] == "none" else row["repair"] + " + ") + (
            "sidecar restore-db (from the backup)")  # fmt: skip
    with fk.Daemon(db, root) as d:
        d.wait_indexed()
        wait_until(lambda: d.request("GET", "/healthz").status_code == 200, timeout=30)
        ids = fk.chat_ids(d)
        lost_version = routes(d)["old version"]
    if case.ids_kept:
        assert ids == world["ids"], f"chatIds not kept: {ids} != {world['ids']}\n{fixed_out}"
    after = dump_folder(db)
    assert not differences(comparable(after), comparable(world["clean"]))
    assert fk.tracker_rows(db / "tracker.db") == world["tracker"]
    faults = [f for f in after["faults"] if ".damaged-" not in f and ".replaced-" not in f]
    if "lines" in case.health:
        faults = [f for f in faults if not f.startswith("line store: line ")
                  and "version 1 does not rebuild" not in f]  # fmt: skip
    assert not faults
    if "lines" in case.health:  # lines the files no longer hold: that version stays lost
        assert lost_version == 410
        assert "version 1 of default-user/chats/Sera/one.jsonl" in fixed.stdout
        row["data lost"] = "version 1 of one chat (its lines are in no file any more)"
    elif case.ids_kept:  # every version kept
        assert after["past"]["chats"] == world["dump"]["past"]["chats"]
        row["data lost"] = "none"
    else:  # what could not be read: count it
        kept = sum(1 for key, chat in world["ids"].items() if ids.get(key) == chat)
        was, now = world["dump"]["past"]["chats"], after["past"]["chats"]
        lost = sum(len(c.get("versions", [])) for c in was.values()) - sum(
            len(now.get(path, {}).get("versions", [])) for path in was)  # fmt: skip
        row["data lost"] = (f"{len(ids) - kept} of {len(ids)} chatIds new, {lost} old versions "
                            "lost (their rows were on the cut-off pages)")  # fmt: skip
    if case.restore and row["data lost"] == "none":
        row["data lost"] = "none (value-tracker data from the backup: writes after it would be)"
    return row
