"""The one polling helper: a check polled until a condition holds, a deadline passes or a stop says so."""

from __future__ import annotations

import itertools

import pytest

from lab.errors import GwlabError
from lab.poll import Deadline, poll, wait_for


def test_poll_returns_the_first_value_that_is_done() -> None:
    counter = itertools.count()
    result = poll(lambda: next(counter), lambda n: n >= 3, timeout_s=5, interval_s=0.001)
    assert result.ok and result.value == 3 and result.polls == 4


def test_poll_gives_up_at_the_deadline_with_what_it_saw_last() -> None:
    counter = itertools.count()
    result = poll(lambda: next(counter), lambda n: n < 0, timeout_s=0.5, interval_s=0.01)
    assert not result.ok
    assert result.value == result.polls - 1 >= 1  # looked again after the first check, until the deadline
    assert result.seconds >= 0.5


def test_a_zero_timeout_looks_once() -> None:
    result = poll(lambda: [1], lambda found: not found, timeout_s=0)
    assert not result.ok and result.polls == 1 and result.value == [1]


def test_stop_ends_the_wait_early() -> None:
    result = poll(lambda: False, timeout_s=30, interval_s=0.001, stop=lambda: True)
    assert not result.ok and result.polls == 1 and result.seconds < 1


def test_wait_for_raises_one_line_naming_what_it_waited_for() -> None:
    with pytest.raises(GwlabError, match=r"^zebra's socket: not within 0.02 s$"):
        wait_for(lambda: False, 0.02, "zebra's socket", interval_s=0.005)
    assert wait_for(lambda: "yes", 1, "anything") == "yes"


def test_wait_for_stops_with_the_reason_a_check_failed() -> None:
    with pytest.raises(GwlabError, match=r"^charon exited$"):
        wait_for(lambda: False, 30, "vici socket", interval_s=0.001, failed=lambda: "charon exited")


def test_deadline() -> None:
    deadline = Deadline(0.0)
    assert deadline.expired() and deadline.left() == 0.0
    assert not Deadline(60).expired() and 59 < Deadline(60).left() <= 60
