"""Settings: the example file, precedence (flags > env > file > defaults), errors, discovery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from sidecar.config import Settings, load_settings
from sidecar.errors import ConfigError
from sidecar.locations import find_sillytavern_data_root

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.yaml"


@pytest.fixture(autouse=True)
def _no_sidecar_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os  # noqa: PLC0415

    for name in list(os.environ):
        if name.startswith("SIDECAR_"):
            monkeypatch.delenv(name)


def _keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    keys = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= _keys(annotation, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def _yaml_keys(data: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for name, value in data.items():
        if isinstance(value, dict) and value:  # an empty mapping is a value (namespace_map: {})
            keys |= _yaml_keys(value, f"{prefix}{name}.")
        else:
            keys.add(prefix + name)
    return keys


def test_example_config_loads_and_documents_every_key() -> None:
    settings = load_settings(EXAMPLE)
    assert settings.api.host == "127.0.0.1"
    assert settings.api.port == 8711
    assert settings.storage.database_dir == Path("~/.local/share/sidecar/databases").expanduser()
    documented = _yaml_keys(yaml.safe_load(EXAMPLE.read_text()))
    assert documented == _keys(Settings)
    text = EXAMPLE.read_text()
    for key in documented:
        leaf = key.rsplit(".", 1)[-1]
        line_no = next(
            i for i, line in enumerate(text.splitlines()) if line.strip().startswith(leaf + ":")
        )
        assert text.splitlines()[line_no - 1].strip().startswith("#"), f"{key} has no comment"


def test_example_values_are_the_defaults() -> None:
    assert load_settings(EXAMPLE).model_dump() == load_settings(None).model_dump()


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.yaml")


def test_unknown_keys_are_errors(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("api:\n  prot: 1\n")
    with pytest.raises(ConfigError, match=r"api\.prot: unknown key"):
        load_settings(config)
    config.write_text("apii: {}\n")
    with pytest.raises(ConfigError, match="apii: unknown key"):
        load_settings(config)


def test_bad_values_and_bad_yaml_are_errors(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("api:\n  port: lots\n")
    with pytest.raises(ConfigError, match=r"api\.port"):
        load_settings(config)
    config.write_text("api: [unclosed\n")
    with pytest.raises(ConfigError):
        load_settings(config)


def test_precedence_flags_over_env_over_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "api:\n  host: 0.0.0.0\n  port: 1000\n  token: from-file\n"
        "storage:\n  database_dir: /srv/db\n"
    )
    monkeypatch.setenv("SIDECAR_API__PORT", "2000")
    monkeypatch.setenv("SIDECAR_LOG__LEVEL", "debug")
    settings = load_settings(config, {"api": {"port": 3000}, "sillytavern": {"data_root": "~/st"}})
    assert settings.api.port == 3000
    assert settings.api.host == "0.0.0.0"
    assert settings.api.token is not None
    assert settings.api.token.get_secret_value() == "from-file"
    assert settings.log.level == "debug"
    assert settings.storage.database_dir == Path("/srv/db")
    assert settings.sillytavern.data_root == Path("~/st").expanduser()
    monkeypatch.delenv("SIDECAR_API__PORT")
    assert load_settings(config).api.port == 1000


def test_empty_token_means_no_token(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text('api:\n  token: ""\n')
    assert load_settings(config).api.token is None


def test_data_root_discovery(tmp_path: Path) -> None:
    home = tmp_path / "home"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    assert find_sillytavern_data_root(home, cwd, {}) is None
    (home / "SillyTavern" / "data" / "default-user" / "chats").mkdir(parents=True)
    assert find_sillytavern_data_root(home, cwd, {}) == home / "SillyTavern" / "data"
    env_root = tmp_path / "custom"
    (env_root / "alice" / "chats").mkdir(parents=True)
    found = find_sillytavern_data_root(home, cwd, {"SILLYTAVERN_DATAROOT": str(env_root)})
    assert found == env_root
    legacy = cwd / "data"
    (legacy / "chats").mkdir(parents=True)
    assert find_sillytavern_data_root(home, cwd, {}) == legacy
