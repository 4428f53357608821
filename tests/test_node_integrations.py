"""Runs the Node tests of ``integrations/`` (the SillyTavern proxy plugin and the browser client).

They start real ``sidecar run`` processes, so they need this virtualenv's ``sidecar`` command
(passed as ``SIDECAR_CMD``) and the test-only npm packages that the test command installs with
``npm ci --prefix integrations`` from the committed lock file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

INTEGRATIONS = Path(__file__).resolve().parent.parent / "integrations"
NODE_TESTS = sorted((INTEGRATIONS / "tests").glob("*.test.mjs"))


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the plugin and client tests need Node 18+)")
    return node


@pytest.mark.parametrize("test_file", NODE_TESTS, ids=lambda path: path.name)
def test_node_suite(test_file: Path) -> None:
    node = _node()
    if not (INTEGRATIONS / "node_modules").is_dir():
        pytest.fail("integrations/node_modules is missing: run `npm ci --prefix integrations`")
    env = dict(os.environ)
    env["SIDECAR_CMD"] = str(Path(sys.executable).parent / "sidecar")
    env.pop("NODE_OPTIONS", None)
    result = subprocess.run(
        [node, "--test", "--test-reporter=spec", str(test_file.relative_to(INTEGRATIONS))],
        cwd=INTEGRATIONS,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
