"""A real SillyTavern 1.18 server and a real ``sidecar run`` behind its proxy plugin, for the
end-to-end tests (the fixtures are in ``tests/st_harness.py``).

- SillyTavern is installed once per machine from ``../shared/sillytavern-1.18`` with its own
  ``install.sh`` into ``.cache/sillytavern-1.18`` (gitignored), then the proxy plugin and the UI
  extensions are copied in with the code of ``sidecar install-sillytavern``
  (``sidecar.cli.install``), so the tests load exactly what users install.
- It runs as ``node server.js --port P --dataRoot D --listen false --browserLaunchEnabled false
  --configPath C`` from its folder, with a copy of its default ``config.yaml`` that enables server
  plugins and turns every auto-update and download off (this machine has no network).
- ``sidecar run`` runs as a subprocess on 127.0.0.1 with a token, watching ``D``; the plugin gets
  its address and token through ``ST_SIDECAR_URL`` / ``ST_SIDECAR_TOKEN``. It can be restarted on
  the same port (its databases, event ids included, stay).

Each process writes its output to a log file (a pipe nobody reads could block it); a failure to
start raises with the log's tail.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from tests.live_server import free_port

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SNAPSHOT = SHARED / "sillytavern-1.18"
CACHE = REPO / ".cache"
INSTALL_DIR = CACHE / "sillytavern-1.18"
WEBPACK_CACHE = CACHE / "sillytavern-webpack"
PREFIX = "/api/plugins/valuetracker"
START_TIMEOUT = 240.0  # the first start compiles the front end (about 70 s on 2 busy cores)


class StartFailed(RuntimeError):
    """A server did not come up; the message ends with its log."""


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def missing_reason() -> str | None:
    """Why the end-to-end tests cannot run here, or None."""
    if not (SNAPSHOT / "install.sh").is_file():
        return f"SillyTavern snapshot not found at {SNAPSHOT} (../shared is absent)"
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are not installed (SillyTavern needs Node 18+)"
    return None


def install_sillytavern(dest: Path = INSTALL_DIR) -> Path:
    """Install the snapshot into ``dest`` once (``install.sh`` skips a finished install), under
    the lock ``.ci/run`` holds while it installs it in the background."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "sillytavern-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = subprocess.run(
            ["bash", str(SNAPSHOT / "install.sh"), str(dest)],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        raise StartFailed(f"SillyTavern install failed:\n{done.stdout}\n{done.stderr}")
    return Path(done.stdout.strip().splitlines()[-1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _answers(url: str, ok: Callable[[httpx.Response], bool]) -> bool:
    try:
        return ok(httpx.get(url, timeout=5))
    except httpx.TransportError:
        return False


@dataclass
class Process:
    """A child process with its output in ``log``."""

    name: str
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def spawn(self, args: list[str], cwd: Path | None, env: dict[str, str]) -> None:
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(
                args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> None:
        def done() -> bool:
            if self.popen is not None and self.popen.poll() is not None:
                raise StartFailed(f"{self.name} exited with {self.popen.returncode}:\n"
                                  + _tail(self.log))  # fmt: skip
            return condition()

        try:
            wait_for(done, timeout, f"{self.name} to answer")
        except TimeoutError as exc:
            raise StartFailed(f"{exc}:\n{_tail(self.log)}") from None

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit code."""
        popen, self.popen = self.popen, None
        if popen is None:
            return None
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(popen.pid, signal.SIGKILL)
                popen.wait(10)
        return popen.returncode


@dataclass
class Sidecar:
    """``sidecar run`` on 127.0.0.1:``port`` with a token, watching ``data_root``."""

    folder: Path
    data_root: Path
    env_extra: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    token: str = "e2e-token-4f1c"

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = Process("sidecar", self.folder / "sidecar.log")
        self.config = self.folder / "sidecar.yaml"
        settings = {
            "api": {"host": "127.0.0.1", "port": self.port, "token": self.token},
            "storage": {"database_dir": str(self.folder / "databases")},
            "sillytavern": {"data_root": str(self.data_root)},
            "watch": {"quiet_period_ms": 100, "max_wait_ms": 1000, "rescan_minutes": 0},
            "events": {"heartbeat_seconds": 5},
        }
        self.config.write_text(yaml.safe_dump(settings), encoding="utf-8")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        env = {**os.environ, **self.env_extra}
        command = str(Path(sys.executable).parent / "sidecar")
        self.process.spawn([command, "run", "--config", str(self.config)], None, env)
        probe = f"{self.url}{PREFIX}/probe"
        self.process.wait_until(lambda: _answers(probe, lambda r: r.status_code == 204), timeout)

    def stop(self) -> None:
        code = self.process.stop()
        if code not in (None, 0):
            raise StartFailed(f"sidecar exited with {code}:\n{_tail(self.process.log)}")

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class SillyTavern:
    """SillyTavern from ``install_dir`` with its data in ``data_root``, behind it ``sidecar``."""

    install_dir: Path
    folder: Path
    data_root: Path
    port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.process = Process("SillyTavern", self.folder / "sillytavern.log")
        self.config = self.folder / "config.yaml"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> None:
        config = yaml.safe_load((self.install_dir / "default" / "config.yaml").read_text("utf-8"))
        config["enableServerPlugins"] = True
        config["enableServerPluginsAutoUpdate"] = False
        config["extensions"]["autoUpdate"] = False
        config["extensions"]["models"]["autoDownload"] = False
        config["enableDownloadableTokenizers"] = False
        # Accounts on, so the tests can log in as a second user (with one passwordless user
        # SillyTavern logs it in by itself); no login rate limit for the tests' logins.
        config["enableUserAccounts"] = True
        config["rateLimiting"]["accountsLoginMaxAttempts"] = 0
        self.config.write_text(yaml.safe_dump(config), encoding="utf-8")

    def share_webpack_cache(self) -> None:
        """The front end is compiled into ``<dataRoot>/_webpack`` outside containers (into the
        install's ``dist/`` inside one): keep it across test sessions in ``.cache``."""
        WEBPACK_CACHE.mkdir(parents=True, exist_ok=True)
        self.data_root.mkdir(parents=True, exist_ok=True)
        link = self.data_root / "_webpack"
        if not link.is_symlink():
            link.symlink_to(WEBPACK_CACHE, target_is_directory=True)

    def start(self, sidecar: Sidecar, timeout: float = START_TIMEOUT) -> None:
        self.write_config()
        self.share_webpack_cache()
        env = {
            **os.environ,
            "ST_SIDECAR_URL": sidecar.url,
            "ST_SIDECAR_TOKEN": sidecar.token,
            # SillyTavern keys its compiled front end by the git commit of its folder; without a
            # ceiling git finds this repository around .cache/ and every commit recompiles it.
            "GIT_CEILING_DIRECTORIES": str(self.install_dir.parent),
        }
        env.pop("NODE_OPTIONS", None)
        args = [
            shutil.which("node") or "node", "server.js", "--port", str(self.port),
            "--dataRoot", str(self.data_root), "--listen", "false",
            "--browserLaunchEnabled", "false", "--configPath", str(self.config),
        ]  # fmt: skip
        self.process.spawn(args, self.install_dir, env)
        # 200, or with accounts on a redirect to the login page: it serves pages either way.
        ready = lambda: _answers(self.url + "/", lambda r: r.status_code < 400)  # noqa: E731
        self.process.wait_until(ready, timeout)

    def stop(self) -> None:
        self.process.stop()

    def log_text(self) -> str:
        return self.process.log.read_text(errors="replace")
