"""Registration of extensions: POST/DELETE /register, GET /extensions."""

from __future__ import annotations

from litestar import Router
from litestar.di import NamedDependency
from litestar.params import JSONBody
from sqlalchemy.exc import OperationalError

from sidecar.api.operation import DELETE, GET, POST, operation
from sidecar.api.schemas import (
    DeregisterBody,
    ExtensionInfo,
    RegisterBody,
    SuccessMessage,
)
from sidecar.errors import Damaged, DiskFull
from sidecar.storage.registry import ExtensionRegistry
from sidecar.tracker.entities import stats


@operation(POST, "/register", "register")
def register(
    data: JSONBody[RegisterBody], registry: NamedDependency[ExtensionRegistry]
) -> SuccessMessage:
    """Register an extension and open (or create) its database. Idempotent."""
    registry.register(data.extension_id, data.db_path)
    return SuccessMessage(message=f"Extension {data.extension_id} registered successfully")


@operation(DELETE, "/register", "deregister")
def deregister(
    data: JSONBody[DeregisterBody], registry: NamedDependency[ExtensionRegistry]
) -> SuccessMessage:
    """Deregister an extension; its database file and data are kept."""
    registry.deregister(data.extension_id)
    return SuccessMessage(message=f"Extension {data.extension_id} deregistered successfully")


@operation(GET, "/extensions", "listExtensions")
def list_extensions(registry: NamedDependency[ExtensionRegistry]) -> list[ExtensionInfo]:
    """Every extension sidecar knows, registered or not, with row counts."""
    result = []
    for record in registry.registrations():
        counts, problem = None, None
        try:
            with registry.peek(record.extension_id) as conn:
                counts = stats(conn) if conn is not None else None
        except (Damaged, DiskFull) as exc:  # listed as damaged; the others are unaffected
            problem = exc.message
        except OperationalError as exc:  # a file with no tables yet holds nothing
            if "no such table" not in str(exc):
                raise
        result.append(
            ExtensionInfo(
                extension_id=record.extension_id,
                registered=record.registered,
                created_at=record.created_at,
                characters=counts.characters if counts else 0,
                instances=counts.instances if counts else 0,
                data_keys=counts.data_keys if counts else 0,
                problem=problem,
            )
        )
    return result


router = Router("/", route_handlers=[register, deregister, list_extensions])
