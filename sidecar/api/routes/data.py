"""The key/value data of one instance, for the extension named by ``x-extension-id``."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Router, delete, get
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody, QueryParameter

from sidecar.api.operation import DELETE, GET, POST, PUT, operation
from sidecar.api.schemas import (
    DataBody,
    DataSaved,
    DeletedCount,
    RemovedCount,
    RemoveKeysBody,
    Success,
    SuccessMessage,
)
from sidecar.ids import check_id
from sidecar.storage.extension_db import ExtensionDatabase
from sidecar.tracker import data as store

DATA = "/instances/{instance_id:str}/data"
BULK_ACTIONS = ("override", "merge", "remove")


def key_from_path(path_value: str) -> str:
    """``{key:path}`` values keep their leading slash; keys may contain ``/`` (as %2F)."""
    return path_value[1:] if path_value.startswith("/") else path_value


@operation(GET, DATA, "getInstanceData")
def get_all(db: NamedDependency[ExtensionDatabase], instance_id: FromPath[str]) -> dict[str, Any]:
    return store.get_all(db, check_id(instance_id, "instance"))


def read_key(db: ExtensionDatabase, instance_id: str, key: str) -> dict[str, Any]:
    return {key: store.get_one(db, check_id(instance_id, "instance"), key)}


def delete_key(db: ExtensionDatabase, instance_id: str, key: str) -> Success:
    store.delete_one(db, check_id(instance_id, "instance"), key)
    return Success()


@operation(GET, DATA + "/{key:path}", "getInstanceDataKey")
def get_key(
    db: NamedDependency[ExtensionDatabase], instance_id: FromPath[str], key: FromPath[str]
) -> dict[str, Any]:
    """``{"<key>": value}``; keys are URL-encoded in the path."""
    return read_key(db, instance_id, key_from_path(key))


@operation(DELETE, DATA + "/{key:path}", "deleteInstanceDataKey")
def delete_one(
    db: NamedDependency[ExtensionDatabase], instance_id: FromPath[str], key: FromPath[str]
) -> Success:
    return delete_key(db, instance_id, key_from_path(key))


def _reserved_key_routes(action: str) -> list[HTTPRouteHandler]:
    """``/data/override`` etc. are PUT routes; these let GET/DELETE still reach a data key that
    happens to be named like one of them."""

    def get_reserved(
        db: NamedDependency[ExtensionDatabase], instance_id: FromPath[str]
    ) -> dict[str, Any]:
        return read_key(db, instance_id, action)

    def delete_reserved(
        db: NamedDependency[ExtensionDatabase], instance_id: FromPath[str]
    ) -> Success:
        return delete_key(db, instance_id, action)

    path = f"{DATA}/{action}"
    return [
        get(path, include_in_schema=False, sync_to_thread=False, name=f"get-{action}")(
            get_reserved
        ),
        delete(
            path,
            status_code=200,
            include_in_schema=False,
            sync_to_thread=True,
            name=f"del-{action}",
        )(delete_reserved),
    ]


@operation(
    [POST, PUT], DATA, lambda _handler, method, _path: f"setInstanceDataKey{method.capitalize()}"
)
def set_key(
    db: NamedDependency[ExtensionDatabase], instance_id: FromPath[str], data: JSONBody[DataBody]
) -> DataSaved:
    """Set one key; ``value`` may be any JSON value, null included."""
    store.set_one(db, check_id(instance_id, "instance"), data.key, data.value)
    return DataSaved(key=data.key, value=data.value)


@operation(DELETE, DATA, "deleteInstanceData")
def delete_all(db: NamedDependency[ExtensionDatabase], instance_id: FromPath[str]) -> DeletedCount:
    return DeletedCount(deleted_count=store.delete_all(db, check_id(instance_id, "instance")))


@operation(PUT, DATA + "/override", "overrideInstanceData")
def override(
    db: NamedDependency[ExtensionDatabase],
    instance_id: FromPath[str],
    data: JSONBody[dict[str, Any]],
) -> SuccessMessage:
    """Replace all data with the body (a JSON object), in one transaction."""
    store.override(db, check_id(instance_id, "instance"), data)
    return SuccessMessage(message="Instance data overridden successfully")


@operation(PUT, DATA + "/merge", "mergeInstanceData")
def merge(
    db: NamedDependency[ExtensionDatabase],
    instance_id: FromPath[str],
    data: JSONBody[dict[str, Any]],
    deep: Annotated[bool, QueryParameter(name="deep", required=False)] = False,
) -> SuccessMessage:
    """Each top-level key replaces that key; ``?deep=true`` merges nested objects."""
    store.merge(db, check_id(instance_id, "instance"), data, deep=deep)
    return SuccessMessage(message="Instance data merged successfully")


@operation(PUT, DATA + "/remove", "removeInstanceDataKeys")
def remove(
    db: NamedDependency[ExtensionDatabase],
    instance_id: FromPath[str],
    data: JSONBody[RemoveKeysBody],
) -> RemovedCount:
    return RemovedCount(
        removed_count=store.remove(db, check_id(instance_id, "instance"), data.keys)
    )


router = Router(
    "/",
    route_handlers=[
        get_all,
        get_key,
        delete_one,
        set_key,
        delete_all,
        override,
        merge,
        remove,
        *(handler for action in BULK_ACTIONS for handler in _reserved_key_routes(action)),
    ],
)
