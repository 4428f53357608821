"""A damaged catalog under systemd: the daemon keeps pinging the watchdog (a restart would not
fix the file and would stop the value-tracker API too) while /healthz names the file."""

from __future__ import annotations

from tests import faultkit as fk
from tests.daemon_proc import Daemon, catalog_count
from tests.live_server import wait_until


def test_damaged_catalog_is_reported_not_restarted(daemon: Daemon) -> None:
    daemon.start()
    daemon.messages(until="READY=1")
    wait_until(lambda: catalog_count(daemon) == 1, timeout=30)
    code, output = daemon.stop()
    assert code == 0, output
    fk.smash_page(daemon.tmp / "db" / "sidecar.index.db", "chats")
    daemon.start()
    daemon.messages(until="READY=1")
    health = daemon.get("/healthz")
    assert health.status_code == 503
    assert "sidecar.index.db is damaged" in health.json()["reason"]
    assert any(m == "WATCHDOG=1" for m in daemon.messages(until="WATCHDOG=1"))
    assert daemon.get(fk.PREFIX + "/extensions").status_code == 200
