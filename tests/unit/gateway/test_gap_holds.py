"""A gap the API cannot fill ends in resync_required at its bound, never in a silent stall."""

from __future__ import annotations

from tests.support.gateway import Keys
from tests.unit.gateway.harness import running


async def test_a_hold_past_its_bound_in_events_ends_in_resync(keys: Keys) -> None:
    async with running(keys, gap_wait_s=0.05, gap_hold_events=5) as gw:
        socket, other = await gw.ready(1, 1), await gw.ready(2, 2)
        await gw.log.post(1, 10)
        gw.log.commit(1, 10)  # 2: its publish is lost
        gw.log.available = False  # and the API cannot give it
        for _ in range(5):
            await gw.log.post(1, 10)  # 3..7: held, up to the bound
        sizes = [len(raw) for raw in gw.log.events[1][2:7]]
        await gw.until(lambda: gw.metric("livedesk_gateway_gap_held_bytes") == sum(sizes))
        assert socket.offsets() == [1]  # nothing after the gap yet
        await gw.log.post(1, 10)  # 8: the sixth one held is past the bound
        await gw.until(lambda: socket.of_type("resync_required"))
        assert gw.metric("livedesk_gateway_gap_held_bytes") == 0
        resync = socket.of_type("resync_required")[0]
        assert resync["offset"] == 2  # 2 is skipped; what follows it is delivered
        assert resync["message"] == "events could not be fetched in time; reload over REST"
        await gw.until(lambda: socket.offsets() == [1, 3, 4, 5, 6, 7, 8])
        frames = socket.frames()
        after = frames[frames.index(resync) + 1 :]
        assert [f["offset"] for f in after] == [3, 4, 5, 6, 7, 8]  # in order, after it
        assert gw.metric("livedesk_gateway_holds_resynced_total") == 1
        gw.log.available = True
        await gw.log.post(1, 10)
        await gw.log.post(2, 20)
        await gw.until(lambda: socket.offsets()[-1:] == [9] and other.offsets() == [1])
        assert socket.closed is None
        assert other.of_type("resync_required") == []


async def test_a_hold_past_its_bound_in_bytes_ends_in_resync(keys: Keys) -> None:
    async with running(keys, gap_wait_s=0.05) as gw:
        gw.log.commit(1, 10)
        size = len(gw.log.events[1][0])
    async with running(keys, gap_wait_s=0.05, gap_hold_bytes=max(1024, 3 * size)) as gw:
        held = max(1024, 3 * size) // size + 1  # the first event held past the bound
        socket = await gw.ready(1)
        gw.log.commit(1, 10)
        gw.log.available = False
        for _ in range(held):
            await gw.log.post(1, 10)
        await gw.until(lambda: socket.of_type("resync_required"))
        assert socket.of_type("resync_required")[0]["offset"] == 1
        await gw.until(lambda: socket.offsets() == list(range(2, held + 2)))


async def test_a_gap_open_past_its_time_bound_ends_in_resync(keys: Keys) -> None:
    async with running(keys, gap_wait_s=0.05, gap_hold_max_s=0.3) as gw:
        socket = await gw.ready(1)
        await gw.log.post(1, 10)
        gw.log.commit(1, 10)
        gw.log.available = False
        await gw.log.post(1, 10)  # one event held: far from the bounds in size
        await gw.until(lambda: socket.of_type("resync_required"))
        assert socket.of_type("resync_required")[0]["offset"] == 2
        await gw.until(lambda: socket.offsets() == [1, 3])
        assert gw.metric("livedesk_gateway_holds_resynced_total") == 1
        assert socket.closed is None


async def test_a_gap_filled_in_time_sends_no_resync(keys: Keys) -> None:
    async with running(keys, gap_wait_s=0.05, gap_hold_events=5, gap_hold_max_s=0.3) as gw:
        socket = await gw.ready(1)
        await gw.log.post(1, 10)
        gw.log.commit(1, 10)
        for _ in range(4):
            await gw.log.post(1, 10)
        await gw.until(lambda: socket.offsets() == [1, 2, 3, 4, 5, 6])
        assert socket.of_type("resync_required") == []
        assert gw.metric("livedesk_gateway_holds_resynced_total") == 0
        assert socket.closed is None
