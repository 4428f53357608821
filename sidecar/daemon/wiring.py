"""Builds sidecar's parts from the settings. The only module that knows all of them."""

from __future__ import annotations

import logging
from pathlib import Path

from sidecar.config import Settings
from sidecar.indexer.indexer import ChatIndexer
from sidecar.indexer.namespaces import NamespacePolicy
from sidecar.indexer.rederive import adopt_settings
from sidecar.indexer.update_state import Stores, UpdateSettings
from sidecar.locations import find_sillytavern_data_root, looks_like_data_root
from sidecar.sillytavern.discovery import DiscoveryOptions
from sidecar.storage.catalog import CatalogDatabase
from sidecar.storage.extension_db import Database
from sidecar.storage.linestore import LineStore
from sidecar.storage.registry import CATALOG_FILE, ExtensionRegistry
from sidecar.storage.sqlite import SqliteOptions

log = logging.getLogger("sidecar")


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
