"""Probe statistics, the DSCP codebook and the agents' file formats: no lab, no root."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from controller import attribution
from controller.analysis import (
    count_reordered,
    element,
    flow_stats,
    longest_gap,
    paths_in_window,
    symmetric,
    tunnel_level,
)
from controller.attribution import build_codebook, parse_counters
from controller.oracle import predict
from controller.probe_agent import PAYLOAD, RECORD, Receiver, parse_drain, parse_ports, read_records
from controller.probes import plan
from controller.results import Arrival, FlowSpec, FlowStats
from lab.load import load

PORTS = (47000, 47015)


# -- reordering, gaps, loss --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seqs", "expected"),
    [
        ([], 0),
        ([0, 1, 2, 3], 0),
        ([0, 2, 1, 3], 1),  # 1 arrived after 2
        ([3, 0, 1, 2], 3),
        ([0, 1, 1, 2], 0),  # a duplicate is not a reordering
        ([1, 0, 0], 1),
        ([0, 5, 6, 1, 2, 7], 2),
    ],
)
def test_count_reordered(seqs: list[int], expected: int) -> None:
    assert count_reordered(seqs) == expected


def test_longest_gap_between_arrivals() -> None:
    assert longest_gap([0.0, 5.0, 10.0, 40.0, 45.0]) == (30.0, 10.0)
    assert longest_gap([10.0, 0.0, 5.0]) == (5.0, 0.0)  # order of the input does not matter
    assert longest_gap([]) == (0.0, None)
    assert longest_gap([3.0]) == (0.0, None)


def test_longest_gap_bounded_by_the_send_window() -> None:
    # cut off from 10 ms until the sender stopped at 100 ms
    gap, began = longest_gap([0.1, 5.1, 10.1], start=0.0, end=100.0)
    assert gap == pytest.approx(89.9) and began == 10.1
    # nothing arrived before 50 ms
    assert longest_gap([50.0, 55.0], start=0.0, end=55.0) == (50.0, 0.0)
    # nothing arrived at all: the whole send window
    assert longest_gap([], start=2.0, end=12.0) == (10.0, 2.0)
    # bounds inside the arrivals change nothing
    assert longest_gap([0.0, 5.0, 10.0], start=0.0, end=9.9) == (5.0, 0.0)


def _spec(flow: int = 3, direction: str = "s1->azure") -> FlowSpec:
    return FlowSpec(flow, direction, "s1-host", "vm", 48003, 47003)


def test_flow_stats() -> None:
    t0 = 1_000_000_000
    ms = 1_000_000
    # seq 2 lost, seq 4 arrived before seq 3, seq 5 duplicated; 8 sent, 0..7 at 5 ms intervals
    order = [0, 1, 4, 3, 5, 5, 6, 7]
    records = [(3, s, t0 + s * 5 * ms, t0 + (i + (1 if i >= 2 else 0)) * 5 * ms, 4) for i, s in enumerate(order)]
    st = flow_stats(
        _spec(),
        sent=8,
        first_sent_ns=t0,
        last_sent_ns=t0 + 35 * ms,
        records=records,
        t0_ns=t0,
        paths={"msee1": 7, "msee0": 0},
    )
    assert (st.sent, st.received, st.lost, st.reordered) == (8, 7, 1, 1)
    # arrivals at 0, 5, 15, 20, 25, 30, 35, 40 ms: the longest gap is 5 -> 15
    assert st.longest_gap_ms == 10.0 and st.gap_start_ms == 5.0
    assert st.paths == {"msee0": 0, "msee1": 7}
    assert (st.flow, st.direction, st.sport, st.dport) == (3, "s1->azure", 48003, 47003)


def test_flow_stats_nothing_received() -> None:
    st = flow_stats(_spec(), sent=20, first_sent_ns=2_000_000, last_sent_ns=97_000_000, records=[], t0_ns=0)
    assert (st.received, st.lost, st.reordered) == (0, 20, 0)
    assert st.longest_gap_ms == 95.0 and st.gap_start_ms == 2.0


# -- directions and ports ----------------------------------------------------------------------------


def test_plan_ports_and_directions() -> None:
    topo = load("hybrid")
    dirs = plan(topo, 4, base_port=47000)
    assert [(d.name, d.src, d.dst, d.dst_ip) for d in dirs] == [
        ("s1->azure", "s1-host", "vm", "10.1.0.4"),
        ("azure->s1", "vm", "s1-host", "192.168.10.2"),
    ]
    flows = [f for d in dirs for f in d.flows]
    assert [f.flow for f in flows] == list(range(8))
    assert [f.dport for f in flows] == list(range(47000, 47008))
    assert [f.sport for f in flows] == list(range(48000, 48008))
    assert dirs[1].ports == (47004, 47007)
    with pytest.raises(ValueError):
        plan(topo, 0)


def test_plan_every_site(tmp_path: Path) -> None:
    lab = tmp_path / "two-sites.yaml"
    lab.write_text("""
vnet: {address_space: [10.1.0.0/16], gateway_subnet: 10.1.255.0/27}
vpn_gateway: {mode: active-active}
onprem:
  sites:
    - {name: s1, asn: 65010, prefixes: [192.168.10.0/24]}
    - {name: s2, asn: 65020, prefixes: [192.168.20.0/24]}
""")
    dirs = plan(load(str(lab)), 2)
    assert [d.name for d in dirs] == ["s1->azure", "azure->s1", "s2->azure", "azure->s2"]
    assert dirs[3].dst_ip == "192.168.20.2" and dirs[3].flows[0].flow == 6
    assert [d.name for d in plan(load(str(lab)), 2, sites=["s2"])] == ["s2->azure", "azure->s2"]


# -- the codebook ------------------------------------------------------------------------------------


def test_codebook_hybrid() -> None:
    book = build_codebook(load("hybrid"), PORTS)
    assert [(m.label, m.code) for m in book.marks] == [
        ("gw0/t-s1-vpn0", 1),
        ("gw0/t-s1-vpn1", 2),
        ("gw1/t-s1-vpn0", 3),
        ("gw1/t-s1-vpn1", 4),
        ("msee0", 5),
        ("msee1", 6),
    ]
    assert book.elements == ["gw0", "gw1", "msee0", "msee1"]
    for m in book.marks:
        tos = m.code << 2
        assert book.label(tos) == m.label
        assert book.label(tos | 0b11) == m.label  # ECN bits do not matter
        assert book.tos(m.label) == tos
    assert book.label(0) == ""
    assert book.label(63 << 2) == ""
    assert element("gw0/t-s1-vpn0") == "gw0" and element("msee1") == "msee1"


@pytest.mark.parametrize(
    "name", ["active-active", "active-standby", "dual-redundancy", "er-vpn", "hybrid", "zone-redundant"]
)
def test_codebook_unique_per_element_interface(name: str) -> None:
    topo = load(name)
    book = build_codebook(topo, PORTS)
    codes = [m.code for m in book.marks]
    assert len(set(codes)) == len(codes) and all(1 <= c <= 63 for c in codes)
    assert len({m.label for m in book.marks}) == len(codes)
    # every element the oracle can route through can mark
    predicted = {e for elements in predict(topo).paths.values() for e in elements}
    assert predicted <= set(book.elements)


def test_ruleset_marks_both_directions_and_counts_per_port() -> None:
    book = build_codebook(load("hybrid"), (47000, 47003))
    gw = book.ruleset("gw0")
    assert gw.startswith("table inet gwlab_probe {}\ndelete table inet gwlab_probe\n")
    assert "type filter hook forward priority 300; policy accept;" in gw
    assert 'udp dport 47000-47003 iifname "t-s1-vpn0" ip dscp set 1' in gw
    assert 'udp dport 47000-47003 oifname "t-s1-vpn0" ip dscp set 1' in gw
    assert 'udp dport 47000-47003 oifname "t-s1-vpn1" ip dscp set 2' in gw
    assert "counter p47003 { }" in gw and '47003 : "p47003"' in gw
    msee = book.ruleset("msee1")
    assert 'iifname "s1-ce1" ip dscp set 6' in msee and 'oifname "s1-ce1" ip dscp set 6' in msee
    assert "t-s1" not in msee


def test_parse_counters() -> None:
    text = json.dumps(
        {
            "nftables": [
                {"metainfo": {"version": "1.0.6"}},
                {"counter": {"family": "inet", "name": "p47000", "table": "gwlab_probe", "packets": 12, "bytes": 500}},
                {"counter": {"family": "inet", "name": "p47001", "table": "gwlab_probe", "packets": 0, "bytes": 0}},
                {"counter": {"family": "inet", "name": "other", "table": "gwlab_probe", "packets": 3, "bytes": 0}},
                {"counter": {"family": "inet", "name": "p47002", "table": "someone_else", "packets": 3, "bytes": 0}},
            ]
        }
    )
    assert parse_counters(text) == {47000: 12, 47001: 0}
    assert attribution.counter_name(47000) == "p47000"


# -- measured paths ----------------------------------------------------------------------------------


def _flows() -> list[FlowStats]:
    return [
        FlowStats(0, "s1->azure", "s1-host", "vm", 48000, 47000, paths={"msee0": 10}),
        FlowStats(1, "s1->azure", "s1-host", "vm", 48001, 47001, paths={"msee1": 4, "gw0": 6}),
        FlowStats(2, "azure->s1", "vm", "s1-host", 48002, 47002, paths={"msee1": 10, "gw1": 0}),
    ]


def test_paths_in_a_window() -> None:
    arrivals = [
        Arrival(0, 0, 0.0, 1.0, "msee0"),
        Arrival(1, 0, 0.0, 2.0, "msee1"),
        Arrival(1, 1, 5.0, 12.0, "gw0/t-s1-vpn1"),
        Arrival(2, 0, 0.0, 3.0, "msee1"),
        Arrival(2, 1, 10.0, 11.0, ""),  # not marked by the data plane
        Arrival(9, 0, 0.0, 1.0, "gw1/t-s1-vpn0"),  # a flow the table does not know
    ]
    everything = paths_in_window(_flows(), arrivals, -math.inf, math.inf)
    assert everything == {"azure->s1": ["msee1", "unknown"], "s1->azure": ["gw0", "msee0", "msee1"]}
    assert paths_in_window(_flows(), arrivals, 10.0, math.inf) == {"azure->s1": ["unknown"], "s1->azure": ["gw0"]}
    assert paths_in_window(_flows(), arrivals, -math.inf, 2.0) == {"azure->s1": [], "s1->azure": ["msee0"]}
    # per tunnel: the whole label, which tells the device behind the instance
    tunnels = paths_in_window(_flows(), arrivals, -math.inf, math.inf, labels=True)
    assert tunnels == {"azure->s1": ["msee1", "unknown"], "s1->azure": ["gw0/t-s1-vpn1", "msee0", "msee1"]}
    assert tunnel_level(["gw0/t-s1-vpn1", "msee0"]) and not tunnel_level(["gw0", "msee0"])


def test_symmetric() -> None:
    assert symmetric({"s1->azure": ["msee0", "msee1"], "azure->s1": ["msee1"]}) == {"s1": True}
    assert symmetric({"s1->azure": ["msee0"], "azure->s1": ["gw0", "gw1"]}) == {"s1": False}
    assert symmetric({"s1->azure": ["gw0"], "azure->s1": ["gw1"], "s2->azure": ["gw0"], "azure->s2": []}) == {
        "s1": True,
        "s2": False,
    }
    assert symmetric({"s1->azure": ["gw0", "msee0"], "azure->s1": ["msee0"]}) == {"s1": False}
    # only the MSEEs are ExpressRoute: a gateway instance may have any other name, "mseegw" too
    assert symmetric({"s1->azure": ["mseegw"], "azure->s1": ["gw1"]}) == {"s1": True}


# -- the agents' formats -----------------------------------------------------------------------------


def test_parse_ports_and_drain() -> None:
    assert parse_ports("47000-47015") == (47000, 47015)
    assert parse_ports("5000") == (5000, 5000)
    with pytest.raises(Exception):  # noqa: B017 - argparse's own error type
        parse_ports("9-1")
    assert parse_drain("drain 250 0:300,1:299") == (0.25, {0: 300, 1: 299})
    assert parse_drain("drain 100") == (0.1, {})
    with pytest.raises(ValueError):
        parse_drain("stop")


def test_receiver_done() -> None:
    rx = Receiver(47000, 47001)
    rx.last_seq = {0: 9, 1: 4}
    assert rx.done({0: 10, 1: 5})
    assert not rx.done({0: 10, 1: 6})
    assert rx.done({0: 10, 2: 0})  # a flow that sent nothing is complete


def test_read_records(tmp_path: Path) -> None:
    path = tmp_path / "recv.bin"
    rows = [(0, 0, 100, 200, 0x14), (1, 7, 300, 450, 0)]
    body = b"".join(RECORD.pack(*r) for r in rows)
    assert RECORD.size == PAYLOAD.size + 9
    path.write_bytes(json.dumps({"format": "gwlab-probe-recv/1", "records": 2}).encode() + b"\n" + body + b"\x01")
    header, records = read_records(path)
    assert header["records"] == 2 and records == rows
    path.write_bytes(b'{"format": "other"}\n')
    with pytest.raises(ValueError):
        read_records(path)
