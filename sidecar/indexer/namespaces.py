"""Which namespaces are indexed, and into which extension database each one goes."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sidecar.sillytavern.messages import extension_id_for


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
