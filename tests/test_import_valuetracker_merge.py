"""``sidecar import-valuetracker``: the merge rules with data already in sidecar, and dry runs."""

from __future__ import annotations

from pathlib import Path

from tests.old_valuetracker_db import ISO, failed, get_json, ok, served, sha256

# -- merge rules --------------------------------------------------------------------------------


def _existing(db_dir: Path) -> None:
    """Sidecar data for extension ``outfits`` before the import."""
    with served(db_dir) as anon:
        assert anon.post("/register", json={"extensionId": "outfits"}).is_success
        api = anon.for_ext("outfits")
        for body in ({"id": "alice", "name": "Old Alice"}, {"id": "zed", "name": "Zed"}):
            assert api.post("/characters", json=body).is_success
        for body in (
            {"id": "alice-1", "characterId": "alice", "name": "old"},
            {"id": "bob-1", "characterId": "zed", "name": "taken"},  # bob-1 is bob's in the file
        ):
            assert api.post("/instances", json=body).is_success
        assert api.put(
            "/instances/alice-1/data/override", json={"int": 1, "kept": "yes"}
        ).is_success
        assert api.put("/instances/bob-1/data/override", json={"zed": True}).is_success


def test_existing_characters_need_merge(plugin_file: Path, db_dir: Path) -> None:
    _existing(db_dir)
    refused = failed(plugin_file, "--db-dir", db_dir)
    assert "already has 2 character(s)" in refused.output
    assert "--merge" in refused.output
    with served(db_dir, "outfits") as api:
        assert get_json(api, "/characters/alice")["character"]["name"] == "Old Alice"
        assert [c["id"] for c in get_json(api, "/characters")] == ["alice", "zed"]

    merged = ok(plugin_file, "--db-dir", db_dir, "--merge")
    out = merged.output
    assert "characters: 3 imported (1 replaced characters already in sidecar)" in out
    assert "instances: 2 imported (1 replaced instances already in sidecar)" in out
    assert 'instance "bob-1": in sidecar this instance id belongs to character "zed"' in out
    assert 'data of instance "bob-1", 1 key(s) "outfit": its instance was skipped' in out
    with served(db_dir, "outfits") as api:
        alice = get_json(api, "/characters/alice")
        assert alice["character"]["name"] == "Alice"  # imported rows win
        assert alice["character"]["createdAt"] == ISO
        data = get_json(api, "/instances/alice-1/data")
        assert data["int"] == 42
        assert data["kept"] == "yes"  # other rows are kept
        assert get_json(api, "/instances/bob-1")["instance"]["characterId"] == "zed"
        assert get_json(api, "/instances/bob-1/data") == {"zed": True}
        assert get_json(api, "/characters/bob")["instances"] == []
        assert [c["id"] for c in get_json(api, "/characters")] == ["bob", "alice", "zed", "carol"]


def test_dry_run_writes_nothing(plugin_file: Path, db_dir: Path) -> None:
    preview = ok(plugin_file, "--db-dir", db_dir, "--dry-run")
    assert "new extension, would be registered" in preview.output
    assert "characters: 3 would import" in preview.output
    assert "Dry run: nothing was written" in preview.output
    assert not db_dir.exists()

    _existing(db_dir)
    files = {p.name: sha256(p) for p in db_dir.glob("*.db")}
    refused = failed(plugin_file, "--db-dir", db_dir, "--dry-run")
    assert "already has 2 character(s)" in refused.output
    preview = ok(plugin_file, "--db-dir", db_dir, "--dry-run", "--merge")
    assert "(1 would replace characters already in sidecar)" in preview.output
    assert {p.name: sha256(p) for p in db_dir.glob("*.db")} == files
    with served(db_dir, "outfits") as api:
        assert [c["id"] for c in get_json(api, "/characters")] == ["alice", "zed"]
        assert get_json(api, "/instances/alice-1/data") == {"int": 1, "kept": "yes"}
