"""Acknowledged value-tracker writes survive a SIGKILL of ``sidecar run``; none is ever half done.

Several clients (threads, each with its own HTTP connection) write at once to a running daemon,
two per extension, each owning its own characters and instances. Each client sends one request
at a time and keeps a model of its part of the data with every write that was answered 200. The
daemon is killed at a random moment and restarted; then each client's part, read back through the
API, must equal its model, or its model plus the one request that was in flight at the kill
(applied whole: a merge of three keys with two of them is a fault). The model then continues
from what was found, and the next round starts.
"""

from __future__ import annotations

import copy
import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from tests.crash_procs import Failed
from tests.crash_report import KillReport
from tests.crash_saves import value
from tests.dbdump import Dump

State = dict[str, Any]  # character id -> {"name", "instances": {id: {"name", "data"}}}
KEYS = ("k0", "k1", "k2", "k3", "k4", "k5", "ключ 6", "a/b?c#7")
EXTENSIONS = ("crash-ext-a", "crash_ext_b")


@dataclass
class Write:
    method: str
    path: str
    body: Any
    apply: Callable[[State], None]


@dataclass
class Client:
    """One writer: its extension, id prefix, model (acknowledged state) and counters."""

    ext: str
    prefix: str
    rng: random.Random
    model: State = field(default_factory=dict)
    acked: int = 0
    in_flight: Write | None = None
    errors: list[str] = field(default_factory=list)

    def next_write(self) -> Write:
        m, rng = self.model, self.rng
        chars = sorted(m)
        if not chars or rng.random() < 0.04:
            cid = f"{self.prefix}c{rng.randrange(3)}"
            name = f"name {rng.randrange(100)}"
            return Write("POST", "/characters", {"id": cid, "name": name},
                         lambda s: _character(s, cid, name))  # fmt: skip
        cid = rng.choice(chars)
        insts = sorted(i for c in m.values() for i in c["instances"])
        owned = sorted(m[cid]["instances"])
        if not owned or rng.random() < 0.05:
            iid = f"{self.prefix}i{rng.randrange(4)}"
            if iid in insts and iid not in owned:
                return self._delete_instance(iid)  # free the id before it moves
            name = f"inst {rng.randrange(100)}"
            return Write("POST", "/instances", {"id": iid, "characterId": cid, "name": name},
                         lambda s: _instance(s, cid, iid, name))  # fmt: skip
        iid = rng.choice(owned)
        roll = rng.random()
        if roll < 0.01:
            return Write("DELETE", f"/characters/{cid}", None, lambda s: _pop(s, cid))
        if roll < 0.03:
            return self._delete_instance(iid)
        base = f"/instances/{iid}/data"
        if roll < 0.35:
            key, val = rng.choice(KEYS), value(rng)
            return Write("POST", base, {"key": key, "value": val},
                         lambda s: _data(s, iid).__setitem__(key, val))  # fmt: skip
        if roll < 0.65:
            body = {rng.choice(KEYS): value(rng) for _ in range(3)}
            return Write("PUT", base + "/merge", body, lambda s: _data(s, iid).update(body))
        if roll < 0.8:
            body = {rng.choice(KEYS): value(rng) for _ in range(rng.randint(1, 4))}
            return Write("PUT", base + "/override", body, lambda s: _replace(s, iid, body))
        if roll < 0.9:
            keys = rng.sample(KEYS, 2)
            return Write("PUT", base + "/remove", {"keys": keys}, lambda s: _remove(s, iid, keys))
        present = sorted(_data(m, iid))
        if not present:
            return Write("PUT", base + "/merge", {"k0": 0}, lambda s: _data(s, iid).update(k0=0))
        key = rng.choice(present)
        return Write(
            "DELETE", f"{base}/{quote(key, safe='')}", None, lambda s: _remove(s, iid, [key])
        )

    def _delete_instance(self, iid: str) -> Write:
        def apply(s: State) -> None:
            for char in s.values():
                char["instances"].pop(iid, None)

        return Write("DELETE", f"/instances/{iid}", None, apply)

    def run(self, base: str, stop: threading.Event) -> None:
        """Write until the server goes away (or ``stop``); an answer other than 200 is an error."""
        headers = {"x-extension-id": self.ext}
        with httpx.Client(base_url=base, headers=headers, timeout=20) as http:
            while not stop.is_set():
                write = self.next_write()
                self.in_flight = write
                try:
                    answer = http.request(write.method, write.path, json=write.body)
                except httpx.TransportError:
                    return  # killed: the write stays in flight
                self.in_flight = None
                if answer.status_code != 200:
                    self.errors.append(f"{write.method} {write.path}: {answer.status_code} "
                                       f"{answer.text[:200]}")  # fmt: skip
                    return
                write.apply(self.model)
                self.acked += 1


def _pop(s: State, cid: str) -> None:
    del s[cid]


def _character(s: State, cid: str, name: str) -> None:
    s.setdefault(cid, {"name": name, "instances": {}})["name"] = name


def _instance(s: State, cid: str, iid: str, name: str) -> None:
    s[cid]["instances"].setdefault(iid, {"name": name, "data": {}})["name"] = name


def _data(s: State, iid: str) -> dict[str, Any]:
    owner = next(c for c in s.values() if iid in c["instances"])
    data: dict[str, Any] = owner["instances"][iid]["data"]
    return data


def _remove(s: State, iid: str, keys: list[str]) -> None:
    data = _data(s, iid)
    for key in keys:
        data.pop(key, None)


def _replace(s: State, iid: str, body: dict[str, Any]) -> None:
    data = _data(s, iid)
    data.clear()
    data.update(body)


def read_back(http: httpx.Client, client: Client) -> State:
    """The client's part of its extension, through the API."""
    headers = {"x-extension-id": client.ext}
    listed = http.get("/characters", headers=headers)
    if listed.status_code != 200:
        raise Failed(f"GET /characters for {client.ext}: {listed.status_code} {listed.text}")
    state: State = {}
    for char in listed.json():
        if not char["id"].startswith(client.prefix):
            continue
        full = http.get(f"/characters/{char['id']}", headers=headers).json()
        state[char["id"]] = {
            "name": full["character"]["name"],
            "instances": {
                item["instance"]["id"]: {"name": item["instance"]["name"], "data": item["data"]}
                for item in full["instances"]
            },
        }
    return state


def canonical(state: State) -> str:
    """JSON with sorted keys: compares types exactly (``True`` is not ``1``, ``"10"`` not 10)."""
    return json.dumps(state, sort_keys=True, ensure_ascii=False)


class TrackerLoad:
    """Four clients over two extensions; their models survive the daemons they write to."""

    def __init__(self, seed: int) -> None:
        self.clients = [
            Client(ext, f"w{n}{ext[-1]}-", random.Random(seed * 31 + n))
            for ext in EXTENSIONS
            for n in range(2)
        ]
        self.counts = {"acknowledged writes checked": 0, "lost": 0, "half-applied": 0,
                       "in-flight writes found applied": 0}  # fmt: skip
        self.registered = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def after_restart(self, base: str, report: KillReport) -> None:
        """Register once; then check every client's part against its model."""
        with httpx.Client(base_url=base, timeout=20) as http:
            if not self.registered:
                for ext in EXTENSIONS:
                    answer = http.post("/register", json={"extensionId": ext})
                    if answer.status_code != 200:
                        raise Failed(f"register {ext}: {answer.status_code} {answer.text}")
                self.registered = True
            for client in self.clients:
                self._verify(http, client, report)

    def _verify(self, http: httpx.Client, client: Client, report: KillReport) -> None:
        """The client's part: its model, or its model plus the write in flight, whole."""
        got = read_back(http, client)
        found, want = canonical(got), canonical(client.model)
        self.counts["acknowledged writes checked"] += client.acked
        report.compared += 1
        if found != want:
            if client.in_flight is not None and found == canonical(
                _applied(client.model, client.in_flight)
            ):
                self.counts["in-flight writes found applied"] += 1
            else:
                self.counts["lost"] += 1
                self.counts["half-applied"] += client.in_flight is not None
                report.mismatches.append(
                    f"after kill {report.kills}, client {client.prefix}: found {found[:400]}, "
                    f"expected {want[:400]}, in flight: {client.in_flight}"
                )
        client.model, client.in_flight, client.acked = got, None, 0

    def start(self, base: str) -> None:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=c.run, args=(base, self._stop), daemon=True)
            for c in self.clients
        ]
        for thread in self._threads:
            thread.start()

    def wait_for_writes(self, minimum: int, timeout: float = 60) -> None:
        """Until the clients have ``minimum`` acknowledged writes since the last check, so a
        run killed early on a slow machine still tests some (the kill delay starts after)."""
        deadline = time.monotonic() + timeout
        while sum(c.acked for c in self.clients) < minimum:
            if time.monotonic() > deadline:
                raise Failed(f"fewer than {minimum} writes acknowledged in {timeout} s")
            time.sleep(0.01)

    def stop(self, report: KillReport) -> None:
        """After the kill: the clients end on their own (their connection breaks)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        for client in self.clients:
            report.mismatches += client.errors
            client.errors.clear()

    def check_dump(self, dump: Dump, report: KillReport) -> None:
        """The stopped daemon's databases hold exactly the clients' models."""
        for ext in EXTENSIONS:
            stored = dump["current"]["extensions"].get(f"{ext}.db", {}).get("tracker", {})
            decoded = {
                cid: {"name": c["name"], "instances": {
                    iid: {"name": i["name"],
                          "data": {k: json.loads(v) for k, v in i["data"].items()}}
                    for iid, i in c["instances"].items()}}
                for cid, c in stored.items()
            }  # fmt: skip
            want: State = {}
            for client in self.clients:
                if client.ext == ext:
                    want |= client.model
            if canonical(decoded) != canonical(want):
                report.mismatches.append(f"final dump of {ext}: the data is not the models'")


def _applied(model: State, write: Write) -> State:
    state = copy.deepcopy(model)
    try:
        write.apply(state)
    except (KeyError, StopIteration):  # the write could not apply to this state
        return model
    return state
