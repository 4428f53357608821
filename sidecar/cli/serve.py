"""``sidecar run``: the daemon."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from sidecar.cli.options import common_options, load
from sidecar.logs import setup_logging


@click.command("run")
@common_options
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default 8711).")
def run(config_path: Path | None, **flags: Any) -> None:
    """Serve the HTTP API (the value-tracker contract) until stopped."""
    settings = load(config_path, **flags)
    setup_logging(settings.log.level)
    from sidecar.daemon.server import serve  # noqa: PLC0415 - keep `sidecar --help` fast

    sys.exit(serve(settings))
