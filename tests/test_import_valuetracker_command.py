"""``sidecar import-valuetracker``: a big file, and the installed command run as a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import Api
from tests.old_valuetracker_db import (
    ISO,
    add_character,
    add_instance,
    get_json,
    js_stored,
    ok,
    old_db,
    served,
    upsert_data,
)

# -- size and the real command ------------------------------------------------------------------


def test_a_big_file(tmp_path: Path, db_dir: Path) -> None:
    path = tmp_path / "big.db"
    with old_db(path) as conn:
        for c in range(20):
            add_character(conn, f"char-{c:02d}", f"Character {c}", ISO, ISO)
            for i in range(10):
                iid = f"inst-{c:02d}-{i}"
                add_instance(conn, iid, f"char-{c:02d}", None, ISO, ISO)
                for k in range(20):
                    value = {"n": k, "tags": ["a", "b"]} if k % 2 else f"text {k}"
                    upsert_data(conn, iid, f"key-{k:02d}", js_stored(value))
    started = time.perf_counter()
    result = ok(path, "--db-dir", db_dir)
    elapsed = time.perf_counter() - started
    assert "data keys: 4000 imported" in result.output
    assert elapsed < 20, elapsed
    with served(db_dir, "big") as api:
        [info] = get_json(Api(api.client), "/extensions")
        assert (info["characters"], info["instances"], info["dataKeys"]) == (20, 200, 4000)
        full = get_json(api, "/characters/char-07")
        assert len(full["instances"]) == 10
        data = full["instances"][3]["data"]
        assert list(data) == [f"key-{k:02d}" for k in range(20)]
        assert data["key-05"] == {"n": 5, "tags": ["a", "b"]}
        assert data["key-04"] == "text 4"


def test_the_installed_command(plugin_file: Path, tmp_path: Path) -> None:
    """``python -m sidecar``, settings from a config file, exit codes, no traceback."""
    db_dir = tmp_path / "from-config"
    config = tmp_path / "sidecar.yaml"
    config.write_text(f"storage:\n  database_dir: {json.dumps(str(db_dir))}\n")

    def sidecar(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sidecar", "import-valuetracker", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    done = sidecar(plugin_file, "--config", config)
    assert done.returncode == 0, done.stderr
    assert "Imported 1 database(s)" in done.stdout
    again = sidecar(plugin_file, "--config", config)
    assert again.returncode == 1
    assert "already has 3 character(s)" in again.stderr
    assert "Traceback" not in again.stderr
    junk = tmp_path / "junk.db"
    junk.write_text("junk")
    bad = sidecar(junk, "--config", config)
    assert bad.returncode == 1
    assert "is not an SQLite database" in bad.stderr
    assert "Traceback" not in bad.stderr
    with served(db_dir, "outfits") as api:
        assert get_json(api, "/instances/bob-1/data") == {"outfit": {"top": "shirt"}}
