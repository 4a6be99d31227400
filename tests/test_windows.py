"""Outages charged to the change they followed (controller.analysis.window_gaps), on probe records made
in code: flows at a fixed rate, cut for a while, reordered, duplicated, cut until the end."""

from __future__ import annotations

from controller.analysis import by_direction, flow_gaps, outage, window_gaps
from controller.results import Arrival, FlowStats

INTERVAL = 5.0  # 200 pps


def flow(flow_id: int, direction: str = "s1->azure", sent: int = 0, first: float | None = None) -> FlowStats:
    last = None if first is None else first + (sent - 1) * INTERVAL
    return FlowStats(flow_id, direction, "a", "b", 1, 2, sent=sent, first_sent_ms=first, last_sent_ms=last)


def play(
    flow_id: int, until_ms: float, cuts: list[tuple[float, float]], start: float = 0.0, delay: float = 1.0
) -> list[Arrival]:
    """Packets every 5 ms from `start`, `delay` ms in flight, none delivered while sent inside a cut."""
    out = []
    seq, t = 0, start
    while t < until_ms:
        if not any(a <= t < b for a, b in cuts):
            out.append(Arrival(flow_id, seq, t, t + delay, "gw0"))
        seq += 1
        t += INTERVAL
    return out


def test_two_failures_each_charged_with_its_own_outage() -> None:
    """Failure A at 1000 ms cuts flow 0 until 4000 ms (a hold timer); failure B at 2000 ms cuts flow 1
    for 300 ms. A's outage runs past B's injection and stays A's: B is charged only with its own."""
    flows = [flow(0, sent=1200, first=0.0), flow(1, sent=1200, first=0.0)]
    arrivals = play(0, 6000, [(1001, 4000)]) + play(1, 6000, [(2001, 2300)])
    first, second = window_gaps(flows, arrivals, [1000.0, 2000.0], 6000.0)
    assert first[0] == (3000.0, 599) and first[1] == (5.0, 0)
    assert second[0] == (5.0, 0) and second[1] == (300.0, 59)
    # The old way, every gap overlapping the window, would have charged B with A's 3 s.
    assert by_direction(flows, second) == ({"s1->azure": 300.0}, {"s1->azure": 59})


def test_a_gap_is_charged_by_the_first_packet_it_held_back() -> None:
    """The last packet before the cut left 4 ms before the failure: the outage is still the failure's."""
    flows = [flow(0)]
    arrivals = play(0, 2000, [(1000, 1500)])
    assert arrivals[199].sent_ms == 995.0 and arrivals[200].sent_ms == 1500.0
    assert flow_gaps(flows, arrivals, 997.0, 2000.0)[0] == (505.0, 100)
    assert flow_gaps(flows, arrivals, 0.0, 997.0)[0] == (5.0, 0)


def test_a_packet_lost_in_flight_charges_the_change_that_lost_it() -> None:
    """8 ms in flight (userspace ESP under load): the packet sent at 995 ms was still on its way when
    the failure came at 1000 ms and was lost; the gap is the failure's, not the window's before it."""
    flows = [flow(0)]
    arrivals = play(0, 3000, [(995, 2000)], delay=8.0)
    assert arrivals[198].sent_ms == 990.0  # due at 998 ms: arrived before the failure
    assert flow_gaps(flows, arrivals, 1000.0, 3000.0)[0] == (1010.0, 201)  # 998 ms to 2008 ms
    assert flow_gaps(flows, arrivals, 0.0, 1000.0)[0] == (5.0, 0)


def test_reordered_and_duplicated_packets_are_neither_gaps_nor_losses() -> None:
    flows = [flow(0)]
    arrivals = play(0, 100, [])
    arrivals[5], arrivals[6] = arrivals[6], arrivals[5]  # received out of order
    arrivals.append(Arrival(0, 3, 15.0, 60.0, "gw0"))  # a late duplicate
    longest, lost = flow_gaps(flows, arrivals, 0.0, 100.0)[0]
    assert lost == 0 and longest == 5.0


def test_a_flow_cut_until_the_end_of_the_record() -> None:
    """Cut at 500 ms and never back: the sender's last packet (final record) or `until_ms` (live) ends it."""
    final = [flow(0, sent=200, first=0.0)]  # sent until 995 ms
    arrivals = play(0, 1000, [(500, 10_000)])
    assert flow_gaps(final, arrivals, 0.0, 1000.0)[0] == (499.0, 100)  # last arrival 496 ms, last send 995 ms
    live = [flow(0)]
    longest, lost = window_gaps(live, arrivals, [0.0], 1000.0, until_ms=900.0)[0][0]
    assert longest == 404.0 and lost == 81  # sent at 500, 505 ... 900 ms
    assert window_gaps(live, arrivals, [0.0], 1000.0)[0][0] == (5.0, 0)  # without an end: nothing known


def test_a_flow_cut_from_its_first_send_and_one_that_never_arrived() -> None:
    flows = [flow(0, sent=100, first=0.0), flow(1, "azure->s1", sent=100, first=0.0)]
    arrivals = play(0, 500, [(0, 200)])
    gaps, lost = outage(flows, arrivals, 0.0, 500.0)
    assert gaps == {"s1->azure": 201.0, "azure->s1": 495.0}
    assert lost == {"s1->azure": 40, "azure->s1": 100}


def test_gaps_before_the_first_window_belong_to_none() -> None:
    flows = [flow(0)]
    arrivals = play(0, 3000, [(100, 600), (2000, 2100)])
    (only,) = window_gaps(flows, arrivals, [1000.0], 3000.0)
    assert only[0] == (105.0, 20)


def test_a_packet_overtaken_on_another_path_is_no_gap() -> None:
    """Packet 5 is held 20 ms (a busy charon) while 6, 7 and 8 take the circuit just restored and
    pass it: the flow went at most 10 ms without anything new (from 4's arrival to 6's), not the
    25 ms between 4 and 5 in sequence order; and packet 5 came, so nothing was lost."""
    flows = [flow(0)]
    arrivals = play(0, 100, [])
    late = arrivals[5]
    arrivals[5] = Arrival(0, 5, late.sent_ms, late.received_ms + 20.0, "gw0")
    longest, lost = flow_gaps(flows, arrivals, 0.0, 100.0)[0]
    assert (longest, lost) == (10.0, 0)


def stalled(flow_id: int, until_ms: float, stall: tuple[float, float], burst: bool) -> list[Arrival]:
    """Packets every 5 ms, 1 ms in flight, but the sender is starved in [stall): nothing leaves it
    then. With `burst` it catches up at the stall's end, every packet that fell due sent at once (a
    stall under a second); without, it resumes its schedule there, sequence numbers unbroken."""
    a, b = stall
    out, seq, t, k = [], 0, 0.0, 0
    while t < until_ms:
        if a <= t <= b:
            if burst:  # 1 us apart, all before the next packet due after the stall
                out.append(Arrival(flow_id, seq, b + k * 0.001, b + k * 0.001 + 1.0, "gw0"))
                seq, k = seq + 1, k + 1
            t += INTERVAL
            continue
        out.append(Arrival(flow_id, seq, t, t + 1.0, "gw0"))
        seq += 1
        t += INTERVAL
    return out


def test_a_starved_sender_is_no_outage() -> None:
    """The prober itself sent nothing for 900 ms (a starved process on a busy machine): the network
    delivered everything it was given, so the flow had no outage and lost nothing, whether the sender
    caught up in one burst or resumed its schedule."""
    flows = [flow(0)]
    for burst in (True, False):
        arrivals = stalled(0, 3000, (1000.0, 1900.0), burst)
        longest, lost = flow_gaps(flows, arrivals, 0.0, 3000.0)[0]
        assert lost == 0 and longest <= 5.0, (burst, longest)


def test_a_network_outage_during_a_starved_sender_keeps_its_own_length() -> None:
    """The sender stalls 300 ms and, back on schedule, the network loses the 99 packets it sends in
    the next 500 ms: the outage is those 500 ms, not the 805 ms of silence."""
    flows = [flow(0)]
    arrivals = [a for a in stalled(0, 3000, (1000.0, 1300.0), burst=False) if not 1300.0 <= a.sent_ms < 1800.0]
    longest, lost = flow_gaps(flows, arrivals, 0.0, 3000.0)[0]
    assert (longest, lost) == (500.0, 99)
