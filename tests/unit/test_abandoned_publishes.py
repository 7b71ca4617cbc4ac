"""The record of publishes given up before their confirm (`rabbit.abandoned`): a retry of the
same messages waits for the copy in flight, or counts the copy confirmed meanwhile, instead
of sending the messages again."""

from __future__ import annotations

import asyncio

from livedesk.shared.bus.base import Message
from livedesk.shared.bus.rabbit.abandoned import AbandonedPublishes
from livedesk.shared.errors import BusError
from livedesk.shared.topology import EVENTS

KEEP_S = 30.0


class Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def messages(*numbers: int) -> list[Message]:
    return [Message(EVENTS, "acct.1.conv.1.new_message", str(n).encode()) for n in numbers]


def record(clock: Clock | None = None) -> AbandonedPublishes:
    return AbandonedPublishes(clock or Clock(), KEEP_S)


async def test_with_nothing_given_up_everything_is_sent() -> None:
    claims = record().claim(messages(1, 2))
    assert (claims.fresh, claims.waits()) == (messages(1, 2), [])


async def test_a_retry_waits_for_the_copy_in_flight_and_sends_only_what_is_new() -> None:
    abandoned = record()
    in_flight = asyncio.get_running_loop().create_future()
    abandoned.abandon(messages(1, 2, 3), in_flight)
    claims = abandoned.claim(messages(1, 2, 3, 4))
    assert claims.fresh == messages(4)
    assert claims.waits() == [in_flight]


async def test_each_copy_stands_for_one_message() -> None:
    abandoned = record()
    abandoned.abandon(messages(1), asyncio.get_running_loop().create_future())
    first = abandoned.claim(messages(1, 1))
    assert first.fresh == messages(1)  # the second equal message is sent
    assert abandoned.claim(messages(1)).fresh == messages(1)  # the copy is taken


async def test_a_retry_that_gives_up_too_leaves_the_copy_for_the_next() -> None:
    abandoned = record()
    in_flight = asyncio.get_running_loop().create_future()
    abandoned.abandon(messages(1, 2), in_flight)
    abandoned.give_back(abandoned.claim(messages(1, 2)))
    again = abandoned.claim(messages(1, 2))
    assert (again.fresh, again.waits()) == ([], [in_flight])


async def test_a_copy_confirmed_after_its_caller_left_counts_for_a_while() -> None:
    clock = Clock()
    abandoned = record(clock)
    confirmed = asyncio.get_running_loop().create_future()
    abandoned.abandon(messages(1, 2), confirmed)
    confirmed.set_result(None)
    await asyncio.sleep(0)  # its done callback
    clock.now_s += KEEP_S - 1
    claims = abandoned.claim(messages(1))
    assert (claims.fresh, claims.waits()) == ([], [confirmed])
    clock.now_s += 1
    assert abandoned.claim(messages(2)).fresh == messages(2)  # kept long enough: sent again
    assert len(abandoned) == 0


async def test_a_copy_that_failed_is_sent_again() -> None:
    abandoned = record()
    refused = asyncio.get_running_loop().create_future()
    abandoned.abandon(messages(1, 2), refused)
    claims = abandoned.claim(messages(1))
    refused.set_exception(BusError("broker refused the message with delivery tag 1"))
    await asyncio.sleep(0)
    abandoned.give_back(claims)
    assert abandoned.claim(messages(1, 2)).fresh == messages(1, 2)
    assert len(abandoned) == 0


async def test_a_publish_that_had_failed_when_given_up_is_not_recorded() -> None:
    abandoned = record()
    lost = asyncio.get_running_loop().create_future()
    lost.set_exception(ConnectionError("channel closed before the broker confirmed"))
    abandoned.abandon(messages(1), lost)
    assert abandoned.claim(messages(1)).fresh == messages(1)
