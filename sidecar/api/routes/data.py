"""The key/value data of one instance, for the extension named by ``x-extension-id``."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any
from urllib.parse import unquote, unquote_to_bytes

from litestar import Request, Router, delete, get
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, JSONBody, QueryParameter

from sidecar.api.deps import extension_db
from sidecar.api.operation import DELETE, GET, POST, PUT, operation, run_write
from sidecar.api.schemas import (
    DataBody,
    DataSaved,
    DeletedCount,
    RemovedCount,
    RemoveKeysBody,
    Success,
    SuccessMessage,
)
from sidecar.errors import InvalidInput
from sidecar.ids import check_id, check_key
from sidecar.storage.extension_db import ExtensionDatabase
from sidecar.tracker import data as store

DATA = "/instances/{instance_id:str}/data"
BULK_ACTIONS = ("override", "merge", "remove")


Req = Request[Any, Any, Any]


def raw_key(request: Req, after: str) -> str | None:
    """The data key that follows the route template's segment ``after``, exactly as sent; None
    when the path ends there (or does not line up with the template).

    Litestar routes on a normalized path (``//`` collapsed, a trailing ``/`` dropped) and hands
    ``{key:path}`` values over normalized, so the key ``a//b`` would read as ``a/b`` and the key
    ``/`` would reach the collection route (``DELETE .../data/%2F`` deleting every key). Keys may
    hold any character, so they are cut from the raw path, after as many segments as the
    template has up to ``after``.
    """
    template = request.scope.get("path_template", "").split("/")
    raw: bytes | None = request.scope.get("raw_path")
    if raw is None or after not in template:
        return None
    path = raw.split(b"?", 1)[0]
    root = request.scope.get("root_path", "").encode()
    if root and path.startswith(root):
        path = path[len(root) :]
    parts = path.split(b"/")
    start = template.index(after) + 1
    # The common case: nothing percent-encoded, doubled or non-ASCII, so no segment needs
    # decoding (this runs on every data request).
    plain = b"%" not in path and b"//" not in path and path.isascii()
    if len(parts) < start or any(
        not name.startswith("{")
        and (part.decode("ascii") if plain else unquote(part.decode("latin-1"))) != name
        for name, part in zip(template[:start], parts, strict=False)
    ):
        return None
    tail = b"/".join(parts[start:])
    if plain:
        return tail.decode("ascii") if tail else None
    try:
        return unquote_to_bytes(tail).decode("utf-8") if tail else None
    except UnicodeDecodeError:
        raise InvalidInput("Data key is not valid UTF-8") from None


def key_from_path(request: Req, after: str, path_value: str) -> str:
    """The key of a ``{key:path}`` route: :func:`raw_key`, else the routed value (whose leading
    slash is dropped)."""
    key = raw_key(request, after)
    if key is not None:
        return key
    return path_value[1:] if path_value.startswith("/") else path_value


@operation(GET, DATA, "getInstanceData")
def get_all(request: Req, instance_id: FromPath[str]) -> dict[str, Any]:
    """All keys and values; a key made only of ``/`` (``.../data/%2F``) reads that key."""
    db = extension_db(request)
    key = raw_key(request, "data")
    if key is not None:
        return read_key(db, instance_id, key)
    return store.get_all(db, check_id(instance_id, "instance"))


def read_key(db: ExtensionDatabase, instance_id: str, key: str) -> dict[str, Any]:
    return {key: store.get_one(db, check_id(instance_id, "instance"), key)}


async def delete_key(db: ExtensionDatabase, instance_id: str, key: str) -> Success:
    await run_write(store.delete_one, db, check_id(instance_id, "instance"), key)
    return Success()


@operation(GET, DATA + "/{key:path}", "getInstanceDataKey")
def get_key(request: Req, instance_id: FromPath[str], key: FromPath[str]) -> dict[str, Any]:
    """``{"<key>": value}``; keys are URL-encoded in the path."""
    return read_key(extension_db(request), instance_id, key_from_path(request, "data", key))


@operation(DELETE, DATA + "/{key:path}", "deleteInstanceDataKey")
async def delete_one(
    request: Req,
    db: NamedDependency[ExtensionDatabase],
    instance_id: FromPath[str],
    key: FromPath[str],
) -> Success:
    return await delete_key(db, instance_id, key_from_path(request, "data", key))


def _reserved_key_routes(action: str) -> list[HTTPRouteHandler]:
    """``/data/override`` etc. are PUT routes; these let GET/DELETE still reach a data key that
    happens to be named like one of them."""

    def get_reserved(request: Req, instance_id: FromPath[str]) -> dict[str, Any]:
        return read_key(extension_db(request), instance_id, raw_key(request, "data") or action)

    async def delete_reserved(
        request: Req, db: NamedDependency[ExtensionDatabase], instance_id: FromPath[str]
    ) -> Success:
        return await delete_key(db, instance_id, raw_key(request, "data") or action)

    path = f"{DATA}/{action}"
    return [
        get(path, include_in_schema=False, sync_to_thread=False, name=f"get-{action}")(
            get_reserved
        ),
        delete(path, status_code=200, include_in_schema=False, name=f"del-{action}")(
            delete_reserved
        ),
    ]


@operation(
    [POST, PUT], DATA, lambda _handler, method, _path: f"setInstanceDataKey{method.capitalize()}"
)
async def set_key(
    db: NamedDependency[ExtensionDatabase], instance_id: FromPath[str], data: JSONBody[DataBody]
) -> DataSaved:
    """Set one key; ``value`` may be any JSON value, null included."""
    await run_write(store.set_one, db, check_id(instance_id, "instance"), data.key, data.value)
    return DataSaved(key=data.key, value=data.value)


@operation(DELETE, DATA, "deleteInstanceData")
def delete_all(
    request: Req, db: NamedDependency[ExtensionDatabase], instance_id: FromPath[str]
) -> DeletedCount:
    """Delete every key; a key made only of ``/`` (``.../data/%2F``) deletes just that key."""
    key = raw_key(request, "data")
    if key is not None:
        store.delete_one(db, check_id(instance_id, "instance"), key)
        return DeletedCount(deleted_count=1)
    return DeletedCount(deleted_count=store.delete_all(db, check_id(instance_id, "instance")))


@operation(PUT, DATA + "/override", "overrideInstanceData")
async def override(
    db: NamedDependency[ExtensionDatabase],
    instance_id: FromPath[str],
    data: JSONBody[dict[str, Any]],
) -> SuccessMessage:
    """Replace all data with the body (a JSON object), in one transaction."""
    await run_write(store.override, db, check_id(instance_id, "instance"), data)
    return SuccessMessage(message="Instance data overridden successfully")


@operation(PUT, DATA + "/merge", "mergeInstanceData")
async def merge(
    db: NamedDependency[ExtensionDatabase],
    instance_id: FromPath[str],
    data: JSONBody[dict[str, Any]],
    deep: Annotated[bool, QueryParameter(name="deep", required=False)] = False,
) -> SuccessMessage:
    """Each top-level key replaces that key; ``?deep=true`` merges nested objects."""
    await run_write(partial(store.merge, deep=deep), db, check_id(instance_id, "instance"), data)
    return SuccessMessage(message="Instance data merged successfully")


@operation(PUT, DATA + "/remove", "removeInstanceDataKeys")
async def remove(
    db: NamedDependency[ExtensionDatabase],
    instance_id: FromPath[str],
    data: JSONBody[RemoveKeysBody],
) -> RemovedCount:
    """Remove the listed keys (each a valid key: 400 otherwise, and nothing is removed)."""
    keys = [check_key(key) for key in data.keys]
    count = await run_write(store.remove, db, check_id(instance_id, "instance"), keys)
    return RemovedCount(removed_count=count)


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
