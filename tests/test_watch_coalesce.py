"""The per-path debounce (with a fake clock): quiet period, max wait, order, moves, waiting."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from sidecar.watch import Coalescer

A, B, C = Path("/data/a.jsonl"), Path("/data/b.jsonl"), Path("/data/c.jsonl")


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def at(self, offset: float) -> None:
        """Set the time to ``offset`` seconds after the start."""
        self.now = 1000.0 + offset


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def coalescer(clock: FakeClock) -> Coalescer:
    return Coalescer(quiet=0.3, max_wait=3.0, clock=clock)


def test_due_after_the_quiet_period(clock: FakeClock, coalescer: Coalescer) -> None:
    assert coalescer.next_due_in() is None
    coalescer.add(A)
    assert len(coalescer) == 1
    assert coalescer.next_due_in() == pytest.approx(0.3)
    clock.at(0.29)
    assert coalescer.pop_due() == []
    assert coalescer.next_due_in() == pytest.approx(0.01)
    clock.at(0.3)
    assert coalescer.next_due_in() == 0
    assert coalescer.pop_due() == [A]
    assert len(coalescer) == 0
    assert coalescer.next_due_in() is None
    assert coalescer.pop_due() == []


def test_each_event_restarts_the_quiet_period(clock: FakeClock, coalescer: Coalescer) -> None:
    for t in (0.0, 0.2, 0.4):
        clock.at(t)
        coalescer.add(A)
    clock.at(0.69)
    assert coalescer.pop_due() == []
    clock.at(0.7)
    assert coalescer.pop_due() == [A]


def test_max_wait_under_a_continuous_burst(clock: FakeClock, coalescer: Coalescer) -> None:
    popped: list[float] = []
    for step in range(64):  # an event every 0.125 s for 8 s: never quiet for 0.3 s
        t = step * 0.125
        clock.at(t)
        coalescer.add(A)
        if coalescer.pop_due() == [A]:
            popped.append(t)
    # due 3 s after the first pending event; the event at the pop starts the next round
    assert popped == [3.0, 6.125]


def test_max_wait_wins_when_it_comes_first(clock: FakeClock) -> None:
    coalescer = Coalescer(quiet=1.0, max_wait=1.5, clock=clock)
    coalescer.add(A)
    clock.at(0.9)
    coalescer.add(A)
    assert coalescer.next_due_in() == pytest.approx(0.6)
    clock.at(1.5)
    assert coalescer.pop_due() == [A]


def test_paths_are_independent(clock: FakeClock, coalescer: Coalescer) -> None:
    coalescer.add(A)
    clock.at(0.2)
    coalescer.add(B)
    assert len(coalescer) == 2
    clock.at(0.3)
    assert coalescer.pop_due() == [A]
    assert coalescer.next_due_in() == pytest.approx(0.2)
    clock.at(0.45)
    coalescer.add(A)  # A starts over; B is not affected
    clock.at(0.5)
    assert coalescer.pop_due() == [B]
    clock.at(0.75)
    assert coalescer.pop_due() == [A]


def test_due_paths_come_oldest_first(clock: FakeClock, coalescer: Coalescer) -> None:
    coalescer.add(B)
    clock.at(0.1)
    coalescer.add(C)
    clock.at(0.2)
    coalescer.add(A)
    coalescer.add(B)  # a later event does not make B younger
    clock.at(5)
    assert coalescer.pop_due() == [B, C, A]


def test_pop_due_with_a_limit(clock: FakeClock, coalescer: Coalescer) -> None:
    for path in (C, A, B):
        coalescer.add(path)
    clock.at(1)
    assert coalescer.pop_due(limit=1) == [C]
    assert coalescer.pop_due(limit=2) == [A, B]
    assert len(coalescer) == 0


def test_a_popped_path_that_comes_back_is_the_youngest(
    clock: FakeClock, coalescer: Coalescer
) -> None:
    coalescer.add(A)
    coalescer.add(B)
    clock.at(0.3)
    assert coalescer.pop_due(limit=1) == [A]
    coalescer.add(A)
    clock.at(1)
    assert coalescer.pop_due() == [B, A]


def changes(coalescer: Coalescer) -> list[tuple[Path, Path | None]]:
    return [(c.path, c.moved_from) for c in coalescer.pop_due_changes()]


def test_a_move_is_one_pair_that_takes_over_its_source(
    clock: FakeClock, coalescer: Coalescer
) -> None:
    coalescer.add(A)  # a save just before the move
    clock.at(0.1)
    coalescer.add(B, moved_from=A)
    coalescer.add(B)  # a later plain event keeps the pair
    clock.at(1)
    assert changes(coalescer) == [(B, A)]


def test_a_chain_of_moves_is_one_move(clock: FakeClock, coalescer: Coalescer) -> None:
    coalescer.add(B, moved_from=A)
    coalescer.add(C, moved_from=B)
    clock.at(1)
    # B stays as a plain path: a chat sidecar knew there may have been replaced by A
    assert sorted(changes(coalescer), key=str) == [(B, None), (C, A)]


def test_a_second_move_onto_a_path_leaves_the_first_source_vanished(
    clock: FakeClock, coalescer: Coalescer
) -> None:
    coalescer.add(C, moved_from=A)
    coalescer.add(C, moved_from=B)
    clock.at(1)
    assert sorted(changes(coalescer), key=str) == [(A, None), (C, B)]


def test_observed_is_the_wall_time_of_the_latest_event(clock: FakeClock) -> None:
    wall = FakeClock()
    coalescer = Coalescer(quiet=0.3, max_wait=3.0, clock=clock, wall_clock=wall)
    wall.now = 5000.0
    coalescer.add(A)
    wall.now = 5000.2
    coalescer.add(A)
    clock.at(1)
    [change] = coalescer.pop_due_changes()
    assert (change.path, change.moved_from, change.observed) == (A, None, 5000.2)


def test_moves_into_a_folder_are_handed_over_before_the_folder(coalescer: Coalescer) -> None:
    folder = Path("/data/New")
    coalescer.add(folder)
    coalescer.add(folder / "x.jsonl", moved_from=A)
    coalescer.add(B, moved_from=C)  # elsewhere: stays
    moves = coalescer.pop_moves_into(folder)
    assert [(c.path, c.moved_from) for c in moves] == [(folder / "x.jsonl", A)]
    assert len(coalescer) == 2


def test_negative_periods_are_refused() -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        Coalescer(quiet=-1)


def test_wait_ends_early_on_add_and_keeps_an_early_wake_up() -> None:
    coalescer = Coalescer(quiet=60, max_wait=60)
    coalescer.wake()  # woken before anyone waits: the next wait returns at once
    started = time.monotonic()
    coalescer.wait(30)
    adder = threading.Timer(0.05, coalescer.add, args=(A,))
    adder.start()
    coalescer.wait(30)  # ends when A is added, not when A is due
    adder.join()
    assert time.monotonic() - started < 10


def test_wait_is_bounded_by_the_next_due_time() -> None:
    coalescer = Coalescer(quiet=0.05, max_wait=1)
    coalescer.add(A)
    coalescer.wait(0)  # consumes the wake-up of the add
    started = time.monotonic()
    coalescer.wait(30)
    assert time.monotonic() - started < 10
    assert coalescer.pop_due() == [A]
