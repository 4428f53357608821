"""Which namespaces are indexed, and into which extension database each one goes."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import Connection

from sidecar.sillytavern.messages import BUILTIN_CHAT_METADATA_KEYS, extension_id_for


class NamespacePolicy:
    """``extension_for(ns)`` is the extension id for a namespace, or None when it is not indexed."""

    def __init__(
        self,
        include: Collection[str] = (),
        exclude: Collection[str] = (),
        mapping: Mapping[str, str] | None = None,
    ) -> None:
        self._include = frozenset(include)
        self._exclude = frozenset(exclude)
        self._mapping = dict(mapping or {})
        self._cache: dict[str, str | None] = {}

    def extension_for(self, namespace: str) -> str | None:
        try:
            return self._cache[namespace]
        except KeyError:
            pass
        indexed = namespace not in self._exclude and (
            not self._include or namespace in self._include
        )
        target = (self._mapping.get(namespace) or extension_id_for(namespace)) if indexed else None
        self._cache[namespace] = target
        return target

    def settings(self) -> dict[str, Any]:
        """The settings this policy applies, in a canonical form (for the settings fingerprint)."""
        return {
            "index.namespaces": sorted(self._include),
            "index.exclude_namespaces": sorted(self._exclude),
            "index.namespace_map": dict(sorted(self._mapping.items())),
        }


def chat_namespaces_in_use(conn: Connection, policy: NamespacePolicy) -> list[str]:
    """The indexed namespaces any chat's ``chat_metadata`` carries, sorted (reads the catalog's
    copy of every chat's metadata; ``storage.catalog_queries.namespaces_in_use`` has those of
    messages)."""
    keys = conn.exec_driver_sql(
        "SELECT DISTINCT j.key FROM chats, json_each(chats.metadata_json) j "
        "WHERE chats.metadata_json IS NOT NULL"
    ).scalars()
    return sorted(
        str(key)
        for key in keys
        if key not in BUILTIN_CHAT_METADATA_KEYS and policy.extension_for(str(key)) is not None
    )
