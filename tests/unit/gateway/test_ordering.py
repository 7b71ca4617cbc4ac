"""The per-account sequencer: order, duplicates, held offsets, gaps, baselines."""

from __future__ import annotations

from livedesk.gateway.ordering import MAX_HELD, Item, Sequencer
from livedesk.gateway.sockets import OutFrame


def item(offset: int) -> Item:
    return Item(offset, OutFrame(b'{"offset":%d}' % offset), 0.0)


def offsets(items: list[Item] | None) -> list[int] | None:
    return None if items is None else [i.offset for i in items]


def test_in_order_offers_are_delivered_at_once() -> None:
    seq = Sequencer(delivered=10)
    assert offsets(seq.offer(item(11), 0.0)) == [11]
    assert offsets(seq.offer(item(12), 0.0)) == [12]
    assert seq.delivered == 12


def test_an_offset_already_delivered_is_a_duplicate() -> None:
    seq = Sequencer(delivered=10)
    assert seq.offer(item(10), 0.0) is None
    assert seq.offer(item(3), 0.0) is None
    seq.offer(item(12), 0.0)
    assert seq.offer(item(12), 0.0) is None  # held twice is a duplicate too


def test_an_early_offset_is_held_until_the_gap_closes() -> None:
    seq = Sequencer(delivered=10)
    assert seq.offer(item(13), 1.0) == []
    assert seq.offer(item(12), 1.1) == []
    assert seq.held == 2
    assert offsets(seq.offer(item(11), 1.2)) == [11, 12, 13]
    assert seq.held == 0
    assert seq.gap(5.0, 0.1) is None


def test_a_gap_is_reported_after_the_wait_with_its_bounds() -> None:
    seq = Sequencer(delivered=10)
    seq.offer(item(14), 1.0)
    assert seq.gap(1.2, 0.3) is None
    assert seq.gap(1.3, 0.3) == (10, 13)
    # Progress that leaves a gap restarts its wait.
    seq.offer(item(11), 1.4)
    assert seq.gap(1.5, 0.3) is None
    assert seq.gap(1.7, 0.3) == (11, 13)


def test_offers_before_the_baseline_are_held_then_trimmed() -> None:
    seq = Sequencer()
    assert seq.offer(item(5), 0.0) == []
    assert seq.offer(item(6), 0.0) == []
    assert seq.gap(10.0, 0.0) is None  # no baseline, no gap to speak of
    assert offsets(seq.set_baseline(5, 0.0)) == [6]
    assert seq.delivered == 6
    assert seq.held == 0


def test_held_items_are_bounded() -> None:
    seq = Sequencer(delivered=0)
    for offset in range(2, MAX_HELD + 10):
        seq.offer(item(offset), 0.0)
    assert seq.held == MAX_HELD
    assert offsets(seq.offer(item(1), 0.0)) == list(range(1, MAX_HELD + 2))
