"""Builds sidecar's parts from the settings. The only module that knows all of them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sidecar.config import Settings
from sidecar.indexer.indexer import ChatIndexer
from sidecar.indexer.namespaces import NamespacePolicy
from sidecar.indexer.rederive import adopt_settings
from sidecar.indexer.scan import ScanSummary, full_scan
from sidecar.indexer.update_state import Stores, UpdateSettings
from sidecar.locations import find_sillytavern_data_root, looks_like_data_root
from sidecar.recovery import restore, startup
from sidecar.recovery.backup_schedule import BackupSchedule
from sidecar.recovery.derived import extension_chats, mark_pending
from sidecar.recovery.repair import RepairContext
from sidecar.recovery.startup import Prepared
from sidecar.sillytavern.discovery import DiscoveryOptions, locate_chat
from sidecar.storage.catalog import CatalogDatabase
from sidecar.storage.extension_db import Database
from sidecar.storage.linestore import LineStore
from sidecar.storage.registry import CATALOG_FILE, ExtensionRegistry
from sidecar.storage.sqlite import SqliteOptions

log = logging.getLogger("sidecar")


def namespace_policy(settings: Settings) -> NamespacePolicy:
    index = settings.index
    return NamespacePolicy(index.namespaces, index.exclude_namespaces, index.namespace_map)


def sqlite_options(settings: Settings) -> SqliteOptions:
    return SqliteOptions(
        synchronous=settings.storage.synchronous,
        busy_timeout_ms=settings.storage.busy_timeout_ms,
    )


def create_registry(settings: Settings) -> ExtensionRegistry:
    return ExtensionRegistry(settings.storage.database_dir, sqlite_options(settings))


def open_catalog(settings: Settings) -> CatalogDatabase:
    settings.storage.database_dir.mkdir(parents=True, exist_ok=True)
    return CatalogDatabase(settings.storage.database_dir / CATALOG_FILE, sqlite_options(settings))


def open_line_store(settings: Settings) -> LineStore:
    return LineStore(settings.storage.database_dir / "lines")


def prepare_storage(
    settings: Settings, registry: ExtensionRegistry, *, announce: bool = True
) -> Prepared:
    """Check the database folder, heal derived data, open the catalog and line store
    (``announce=False``: the caller says what is damaged itself)."""
    return startup.prepare_storage(
        settings.storage.database_dir,
        sqlite_options(settings),
        registry,
        namespace_policy(settings).extension_for,
        announce=announce,
    )


def backup_schedule(settings: Settings, registry: ExtensionRegistry) -> BackupSchedule:
    storage = settings.storage
    return BackupSchedule(
        storage.database_dir,
        storage.backups,
        storage.backup_every_hours,
        storage.backup_keep,
        registry.registrations,
    )


@contextmanager
def repair_context(settings: Settings) -> Iterator[RepairContext]:
    """What ``sidecar repair`` needs: the registry (opened), the namespace policy, and a full
    pass over the data root (when there is one)."""
    settings = resolve_data_root(settings)
    registry = create_registry(settings)
    registry.open()
    index = settings.index
    policy = NamespacePolicy(index.namespaces, index.exclude_namespaces, index.namespace_map)
    root = settings.sillytavern.data_root
    discovery = DiscoveryOptions(
        skip_dir_names=frozenset(index.skip_dirs), skip_prefixes=tuple(index.skip_prefixes)
    )

    def reindex(catalog: Database, store: LineStore) -> ScanSummary:
        assert root is not None
        return full_scan(create_indexer(settings, registry, catalog, store, root))

    try:
        yield RepairContext(
            settings.storage.database_dir,
            sqlite_options(settings),
            registry,
            policy.extension_for,
            settings.storage.backups,
            locate=(lambda rel: locate_chat(root, root / rel, discovery)) if root else None,
            reindex=reindex if root is not None else None,
        )
    finally:
        registry.close()


def restore_extension(
    settings: Settings, extension_id: str, source: Path | None
) -> tuple[str, Path | None]:
    """``sidecar restore-db``: restore, register if needed, mark its chats for a resync."""
    registry = create_registry(settings)
    registry.open()
    try:
        record = next((r for r in registry.registrations() if r.extension_id == extension_id), None)
        chosen = restore.choose(
            settings.storage.backups, extension_id, source, record.db_file if record else None
        )
        said = chosen.describe()
        registry.close()
        aside = restore.restore(chosen, settings.storage.database_dir, sqlite_options(settings))
        registry.open()
        if record is None or not record.registered:
            registry.register(extension_id, chosen.target.name if record else None)
        catalog_path = settings.storage.database_dir / CATALOG_FILE
        if catalog_path.is_file():
            index = settings.index
            policy = NamespacePolicy(
                index.namespaces, index.exclude_namespaces, index.namespace_map
            )
            catalog = open_catalog(settings)
            try:
                with catalog.read() as conn:
                    chats = extension_chats(conn, policy.extension_for).get(extension_id, set())
                mark_pending(catalog, chats)
            finally:
                catalog.close()
        return said, aside
    finally:
        registry.close()


def create_indexer(
    settings: Settings,
    registry: ExtensionRegistry,
    catalog: Database,
    line_store: LineStore,
    root: Path,
) -> ChatIndexer:
    index = settings.index
    policy = NamespacePolicy(index.namespaces, index.exclude_namespaces, index.namespace_map)
    fields = None if index.top_level_fields is None else tuple(index.top_level_fields)
    indexer = ChatIndexer(
        Stores(catalog, line_store, registry.index_database, registry.index_extensions),
        root,
        UpdateSettings(policy, fields, index.shrink_ratio),
        DiscoveryOptions(
            skip_dir_names=frozenset(index.skip_dirs), skip_prefixes=tuple(index.skip_prefixes)
        ),
        rename_window=index.rename_window_seconds,
    )
    adopt_settings(indexer)  # a new catalog starts with these settings' fingerprint
    return indexer


def resolve_data_root(settings: Settings) -> Settings:
    """Fill in SillyTavern's data folder when it is not configured, and say what was found."""
    root = settings.sillytavern.data_root
    if root is not None:
        if not looks_like_data_root(root):
            log.warning(
                "sillytavern.data_root %s does not look like a SillyTavern data folder "
                "(no <user>/chats inside)",
                root,
            )
        else:
            log.info("SillyTavern data folder: %s", root)
        return settings
    found = find_sillytavern_data_root()
    if found is None:
        log.warning(
            "SillyTavern data folder not found in the usual places; chats will not be indexed. "
            "Set sillytavern.data_root in the config file or pass --data-root <SillyTavern>/data"
        )
        return settings
    log.info("SillyTavern data folder (found automatically): %s", found)
    section = settings.sillytavern.model_copy(update={"data_root": found})
    return settings.model_copy(update={"sillytavern": section})
