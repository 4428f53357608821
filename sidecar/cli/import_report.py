"""The summary ``sidecar import-valuetracker`` prints for each imported (or previewed) file."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import click

from sidecar.tracker.legacy_import import ImportPlan
from sidecar.tracker.legacy_translate import Skip

_STATE = {
    "new": ("new extension, registered now", "new extension, would be registered"),
    "not registered": ("registered again", "not registered, would be registered again"),
    "registered": ("registered", "registered"),
}


def _replaced(count: int, what: str, dry_run: bool) -> str:
    if not count:
        return ""
    verb = "would replace" if dry_run else "replaced"
    return f" ({count} {verb} {what} already in sidecar)"


def skipped_lines(skipped: Iterable[Skip]) -> list[str]:
    """One line per skipped character or instance; data rows grouped by instance and reason."""
    lines: list[str] = []
    groups: dict[tuple[str, str], list[str]] = {}
    for skip in skipped:
        if skip.table == "data":
            groups.setdefault((skip.subject, skip.reason), []).append(skip.key or "")
        else:
            lines.append(f"{skip.table} {skip.subject}: {skip.reason}")
    for (subject, reason), keys in groups.items():
        lines.append(f"data of instance {subject}, {len(keys)} key(s) {', '.join(keys)}: {reason}")
    return lines


def print_plan(
    source: Path, extension_id: str, state: str, plan: ImportPlan, *, dry_run: bool
) -> None:
    tr = plan.translation
    verb = "would import" if dry_run else "imported"
    click.echo(f"{source} -> extension {extension_id} ({_STATE[state][dry_run]})")
    click.echo(
        f"  characters: {len(plan.characters) - len(plan.placeholders)} {verb}"
        + _replaced(plan.replaced.get("characters", 0), "characters", dry_run)
    )
    click.echo(
        f"  instances: {len(plan.instances)} {verb}"
        + _replaced(plan.replaced.get("instances", 0), "instances", dry_run)
    )
    click.echo(
        f"  data keys: {len(plan.data)} {verb}"
        + _replaced(plan.replaced.get("keys", 0), "keys", dry_run)
    )
    if plan.orphan_instances:
        created = ", ".join(plan.placeholders) or "none needed"
        click.echo(
            f"  orphans: {plan.orphan_instances} instance(s) whose character is not in the old "
            f"file; characters {'to create' if dry_run else 'created'} for them (name null): "
            f"{len(plan.placeholders)} ({created})"
        )
    if tr.timestamps_defaulted:
        click.echo(
            f"  timestamps missing or unreadable, set to the import time: {tr.timestamps_defaulted}"
        )
    if tr.kept_as_text:
        click.echo(
            f"  values kept as text (JSON the old plugin could not return faithfully: a number "
            f"out of range, too deep, unpaired surrogates): {len(tr.kept_as_text)}"
        )
        for item in tr.kept_as_text:
            click.echo(f"    {item}")
    if tr.names_repaired:
        click.echo(
            f"  names that were not UTF-8 (bad bytes replaced): {', '.join(tr.names_repaired)}"
        )
    if plan.skipped:
        click.echo(f"  skipped: {len(plan.skipped)} row(s)")
        for line in skipped_lines(plan.skipped):
            click.echo(f"    {line}")
    else:
        click.echo("  skipped: none")
