"""The per-account sequencer: order, duplicates, held offsets, gaps, baselines."""

from __future__ import annotations

from livedesk.gateway.ordering import Item, Sequencer
from livedesk.gateway.sockets import OutFrame


def item(offset: int) -> Item:
    return Item(offset, OutFrame(b'{"offset":%d}' % offset), 0.0)


def sequencer(delivered: int | None = None, *, max_held: int = 1000) -> Sequencer:
    return Sequencer(max_held, max_held_bytes=100 * max_held, delivered=delivered)


def offsets(items: list[Item] | None) -> list[int] | None:
    return None if items is None else [i.offset for i in items]


def test_in_order_offers_are_delivered_at_once() -> None:
    seq = sequencer(delivered=10)
    assert offsets(seq.offer(item(11), 0.0)) == [11]
    assert offsets(seq.offer(item(12), 0.0)) == [12]
    assert seq.delivered == 12


def test_an_offset_already_delivered_is_a_duplicate() -> None:
    seq = sequencer(delivered=10)
    assert seq.offer(item(10), 0.0) is None
    assert seq.offer(item(3), 0.0) is None
    seq.offer(item(12), 0.0)
    assert seq.offer(item(12), 0.0) is None  # held twice is a duplicate too


def test_an_early_offset_is_held_until_the_gap_closes() -> None:
    seq = sequencer(delivered=10)
    assert seq.offer(item(13), 1.0) == []
    assert seq.offer(item(12), 1.1) == []
    assert seq.held == 2
    assert offsets(seq.offer(item(11), 1.2)) == [11, 12, 13]
    assert seq.held == 0
    assert seq.gap(5.0, 0.1) is None


def test_a_gap_is_reported_after_the_wait_with_its_bounds() -> None:
    seq = sequencer(delivered=10)
    seq.offer(item(14), 1.0)
    assert seq.gap(1.2, 0.3) is None
    assert seq.gap(1.3, 0.3) == (10, 13)
    # Progress that leaves a gap restarts its wait.
    seq.offer(item(11), 1.4)
    assert seq.gap(1.5, 0.3) is None
    assert seq.gap(1.7, 0.3) == (11, 13)


def test_offers_before_the_baseline_are_held_then_trimmed() -> None:
    seq = sequencer()
    assert seq.offer(item(5), 0.0) == []
    assert seq.offer(item(6), 0.0) == []
    assert seq.gap(10.0, 0.0) is None  # no baseline, no gap to speak of
    assert offsets(seq.set_baseline(5, 0.0)) == [6]
    assert seq.delivered == 6
    assert seq.held == 0


def test_without_a_baseline_the_highest_offsets_beyond_the_bounds_are_dropped() -> None:
    seq = sequencer(max_held=5)
    for offset in range(2, 12):
        seq.offer(item(offset), 0.0)
    assert seq.held == 5
    assert not seq.overflowing  # nothing to give up: they come again with the fill
    assert offsets(seq.set_baseline(1, 0.0)) == [2, 3, 4, 5, 6]
    frame_bytes = len(item(2).frame)
    by_bytes = Sequencer(100, max_held_bytes=3 * frame_bytes)
    for offset in range(2, 12):
        by_bytes.offer(item(offset), 0.0)
    assert offsets(by_bytes.set_baseline(1, 0.0)) == [2, 3, 4]


def test_past_its_bounds_a_gap_with_a_baseline_is_overflowing() -> None:
    seq = sequencer(delivered=0, max_held=5)
    for offset in range(2, 7):
        seq.offer(item(offset), 0.0)
    assert not seq.overflowing
    seq.offer(item(7), 0.0)
    assert seq.overflowing
    assert seq.gap(0.0, 0.0) == (0, 1)  # what the hub gives up: offset 1
    assert offsets(seq.set_baseline(1, 0.0)) == [2, 3, 4, 5, 6, 7]
    assert not seq.overflowing
    frame_bytes = len(item(2).frame)
    by_bytes = Sequencer(100, max_held_bytes=3 * frame_bytes, delivered=0)
    for offset in range(2, 5):
        by_bytes.offer(item(offset), 0.0)
    assert not by_bytes.overflowing
    by_bytes.offer(item(5), 0.0)
    assert by_bytes.overflowing


def test_a_gap_open_too_long_is_stuck_whatever_the_fills_pacing() -> None:
    seq = sequencer(delivered=10)
    seq.offer(item(13), 1.0)
    assert not seq.stuck(30.9, 30.0)
    seq.held_since = 20.0  # the hub paces its fills by moving this on
    assert seq.stuck(31.0, 30.0)
    seq.offer(item(11), 32.0)  # progress: the gap before 13 is a new one
    assert not seq.stuck(33.0, 30.0)
    assert seq.stuck(62.0, 30.0)
    seq.offer(item(12), 63.0)
    assert seq.held == 0
    assert not seq.stuck(1000.0, 30.0)
    unknown = sequencer()
    unknown.offer(item(5), 0.0)
    assert not unknown.stuck(1000.0, 30.0)  # no baseline: nothing to give up
