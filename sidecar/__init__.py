"""sidecar: a database daemon that runs beside SillyTavern."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sidecar")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"
