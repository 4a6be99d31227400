"""The subset match of JSON state (controller.jsoncmp), in FRR topotests' json_cmp style."""

from __future__ import annotations

from controller.jsoncmp import json_cmp

PEERS = {
    "ipv4Unicast": {
        "as": 65010,
        "peers": {
            "10.0.0.1": {"state": "Established", "pfxRcd": 3},
            "10.0.0.2": {"state": "Active", "pfxRcd": 0},
        },
    }
}


def test_a_subset_matches() -> None:
    assert json_cmp(PEERS, {"ipv4Unicast": {"peers": {"10.0.0.1": {"state": "Established"}}}}) == []
    assert json_cmp(PEERS, {}) == []
    assert json_cmp({"n": 3}, {"n": 3.0}) == []


def test_differences_name_the_path() -> None:
    expected = {"ipv4Unicast": {"as": 65010, "peers": {"10.0.0.2": {"state": "Established"}, "10.0.0.9": {}}}}
    assert json_cmp(PEERS, expected) == [
        "ipv4Unicast.peers.10.0.0.2.state: expected 'Established', got 'Active'",
        "ipv4Unicast.peers.10.0.0.9: expected {}, absent",
    ]


def test_none_expects_absence() -> None:
    assert json_cmp(PEERS, {"ipv4Unicast": {"peers": {"10.0.0.9": None}}}) == []
    assert json_cmp(PEERS, {"ipv4Unicast": {"peers": {"10.0.0.1": None}}}) == [
        "ipv4Unicast.peers.10.0.0.1: expected absent, got {'state': 'Established', 'pfxRcd': 3}"
    ]


def test_lists_match_items_in_any_order() -> None:
    routes = [{"prefix": "10.1.0.0/16", "nexthops": [{"ip": "a"}, {"ip": "b"}]}, {"prefix": "0.0.0.0/0"}]
    assert json_cmp(routes, [{"prefix": "0.0.0.0/0"}, {"nexthops": [{"ip": "b"}]}]) == []
    assert json_cmp(routes, [{"prefix": "10.2.0.0/16"}]) == [
        "[0]: expected an item matching {'prefix': '10.2.0.0/16'}, none found"
    ]
    # each expected item needs an actual item of its own
    assert json_cmp([{"a": 1}], [{"a": 1}, {"a": 1}]) == ["[1]: expected an item matching {'a': 1}, none found"]


def test_types_are_compared() -> None:
    assert json_cmp({"up": True}, {"up": 1}) == ["up: expected 1, got True"]
    assert json_cmp("text", {"a": 1}) == ["(top): expected an object, got 'text'"]
    assert json_cmp({"a": {}}, {"a": []}) == ["a: expected a list, got {}"]
