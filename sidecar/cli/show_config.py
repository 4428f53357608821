"""``sidecar config``: check a config file and print the settings in effect."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from sidecar.cli.options import config_option, load


@click.command("config")
@config_option
def show_config(config_path: Path | None) -> None:
    """Check a config file and print the settings in effect (the token is masked)."""
    settings = load(config_path)
    dumped = settings.model_dump(mode="json")
    if dumped["api"]["token"]:
        dumped["api"]["token"] = "********"  # noqa: S105 - a mask, not a secret
    click.echo(yaml.safe_dump(dumped, sort_keys=False), nl=False)
