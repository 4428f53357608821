"""Settings: loaded once (YAML file, then ``SIDECAR_*`` environment, then command-line flags) and
passed to whatever needs them. Nothing reads settings at import time."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from sidecar.errors import ConfigError
from sidecar.ids import is_valid_id
from sidecar.locations import default_database_dir

DEFAULT_PORT = 8711
ENV_PREFIX = "SIDECAR_"
ENV_NESTING = "__"
DEFAULT_CORS_ORIGINS = ("http://127.0.0.1:8000", "http://localhost:8000")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    token: SecretStr | None = None
    cors_origins: list[str] = Field(default_factory=lambda: list(DEFAULT_CORS_ORIGINS))
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    @field_validator("token")
    @classmethod
    def _no_empty_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            return None
        return value


class StorageSettings(_Section):
    database_dir: Path = Field(default_factory=default_database_dir)
    synchronous: Literal["normal", "full"] = "normal"
    busy_timeout_ms: int = Field(default=5000, ge=0)
    backup_dir: Path | None = None  # None: <database_dir>/backups
    backup_every_hours: float = Field(default=24, ge=0)  # 0: no scheduled backups
    backup_keep: int = Field(default=7, ge=1)

    @field_validator("database_dir")
    @classmethod
    def _expand_dir(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @field_validator("backup_dir")
    @classmethod
    def _expand_backup_dir(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().absolute()

    @property
    def backups(self) -> Path:
        """Where backups go."""
        return self.backup_dir or self.database_dir / "backups"


class SillyTavernSettings(_Section):
    data_root: Path | None = None

    @field_validator("data_root")
    @classmethod
    def _expand_root(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().absolute()


class IndexSettings(_Section):
    namespaces: list[str] = Field(default_factory=list)
    exclude_namespaces: list[str] = Field(default_factory=list)
    namespace_map: dict[str, str] = Field(default_factory=dict)
    # None: every top-level message field that is not SillyTavern's own; a list: exactly those.
    top_level_fields: list[str] | None = None
    skip_dirs: list[str] = Field(default_factory=lambda: ["backups"])
    skip_prefixes: list[str] = Field(default_factory=lambda: ["_", "."])
    history_retention_days: float | None = Field(default=None, gt=0)
    shrink_ratio: float = Field(default=0.5, gt=0, lt=1)
    versions_keep_days: float | None = Field(default=None, gt=0)
    versions_keep_count: int | None = Field(default=None, ge=1)
    rename_window_seconds: float = Field(default=5.0, ge=0, le=3600)

    @field_validator("namespace_map")
    @classmethod
    def _valid_targets(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [target for target in value.values() if not is_valid_id(target)]
        if bad:
            raise ValueError(f"not valid extension ids: {', '.join(map(repr, bad))}")
        return value


class WatchSettings(_Section):
    mode: Literal["auto", "native", "polling"] = "auto"
    quiet_period_ms: int = Field(default=300, ge=0)
    max_wait_ms: int = Field(default=3000, ge=1)
    polling_interval_ms: int = Field(default=1000, ge=50)
    rescan_minutes: float = Field(default=15, ge=0)


class EventsSettings(_Section):
    buffer_size: int = Field(default=50000, ge=10)
    heartbeat_seconds: float = Field(default=15, gt=0)


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"


class Settings(BaseSettings):
    """All of sidecar's settings. Build with :func:`load_settings`, or directly in tests."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter=ENV_NESTING, extra="forbid"
    )

    api: ApiSettings = Field(default_factory=ApiSettings)
    storage: StorageSettings = Field(default_factory=StorageSettings)
    sillytavern: SillyTavernSettings = Field(default_factory=SillyTavernSettings)
    index: IndexSettings = Field(default_factory=IndexSettings)
    watch: WatchSettings = Field(default_factory=WatchSettings)
    events: EventsSettings = Field(default_factory=EventsSettings)
    log: LogSettings = Field(default_factory=LogSettings)


def load_settings(
    config_path: Path | None = None, overrides: dict[str, Any] | None = None
) -> Settings:
    """Load settings: ``overrides`` (CLI flags) > environment > YAML file > defaults.

    A ``config_path`` that does not exist is an error (pydantic-settings would silently ignore it),
    and so is any unknown key, in the file or in ``overrides``.
    """
    if config_path is not None and not config_path.is_file():
        raise ConfigError(f"config file not found: {config_path}")
    yaml_file = config_path

    class _Loaded(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - not used
            file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - not used
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if yaml_file is not None:
                sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_file))
            return tuple(sources)

    try:
        loaded = _Loaded(**(overrides or {}))
    except ValidationError as exc:
        where = f" in {config_path}" if config_path else ""
        raise ConfigError(f"invalid configuration{where}:\n{_describe(exc)}") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config file {config_path}: {exc}") from None
    return Settings.model_validate(loaded.model_dump())


def _describe(exc: ValidationError) -> str:
    """One line per problem, naming the setting as the user wrote it: ``api.port`` for the
    file, ``SIDECAR_API__PORT`` when the environment set it (the environment wins over the file,
    so a value it sets is the one that failed)."""
    env = {name.upper() for name in os.environ}
    lines = []
    for err in exc.errors():
        parts = [str(part) for part in err["loc"]]
        variable = ENV_PREFIX + ENV_NESTING.join(parts).upper()
        if parts and variable in env:
            where = f"{variable} (environment variable)"
        else:
            where = ".".join(parts) or "(top level)"
        message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)
