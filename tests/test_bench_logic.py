"""The benchmark's own logic, on made-up runs: the rerun rule for a busy machine, the least-squares cost
per site, the gwlab/munet ratio paired per round, and others' CPU share."""

from __future__ import annotations

from typing import Any

import pytest

from bench import quiet, report, scale

RULE = quiet.Rule(max_busy_before=0.15, max_others=0.25, reruns=2)


def settled(busy_before: float = 0.02) -> Any:
    """A stand-in for the wait on /proc/stat, for runs that are made up anyway."""
    return lambda _max: {"busy_before": busy_before, "settled_s": 0.5}


def test_a_quiet_run_is_kept_without_rerunning() -> None:
    calls = []

    def attempt() -> dict[str, Any]:
        calls.append(1)
        return {"ok": True, "up_s": 2.0, "load1_start": 0.5, "others_share": 0.02}

    kept = quiet.quietest(attempt, RULE, lambda _: None, settled())
    assert len(calls) == 1 and kept["up_s"] == 2.0 and not kept["busy"]
    assert kept["attempts"] == [
        {"ok": True, "up_s": 2.0, "busy_before": 0.02, "settled_s": 0.5, "load1_start": 0.5, "others_share": 0.02}
    ]


def test_a_busy_run_is_taken_again_up_to_the_limit_and_the_quietest_kept() -> None:
    runs = iter(
        [
            {"ok": True, "up_s": 5.0, "load1_start": 9.0, "others_share": 0.60},
            {"ok": True, "up_s": 4.0, "load1_start": 7.0, "others_share": 0.30},
            {"ok": True, "up_s": 6.0, "load1_start": 8.0, "others_share": 0.50},
            {"ok": True, "up_s": 1.0, "load1_start": 0.0, "others_share": 0.0},  # never reached
        ]
    )
    kept = quiet.quietest(lambda: next(runs), RULE, lambda _: None, settled())
    assert kept["up_s"] == 4.0 and kept["busy"]  # the quietest of three, still busy: said so
    assert [a["up_s"] for a in kept["attempts"]] == [5.0, 4.0, 6.0]


def test_an_unsettled_machine_makes_a_run_busy_a_high_load_alone_does_not() -> None:
    rule = quiet.Rule(max_busy_before=0.15, max_others=0.25, reruns=1)
    assert rule.busy({"busy_before": 0.4, "load1_start": 0.1, "others_share": 0.0})
    assert not rule.busy({"busy_before": 0.05, "load1_start": 173.0, "others_share": 0.05})
    made: list[dict[str, Any]] = [{"ok": True, "up_s": 3.0, "load1_start": 6.0}, {"ok": False, "error": "x"}]
    runs = iter(made)
    kept = quiet.quietest(lambda: next(runs), rule, lambda _: None, settled(busy_before=0.5))
    assert kept["ok"] and kept["up_s"] == 3.0 and len(kept["attempts"]) == 2  # a failed attempt is never kept


def test_a_rule_read_from_results_of_the_earlier_load_rule() -> None:
    rule = quiet.Rule.from_dict({"max_load": 4.0, "max_others": 0.3, "reruns": 1})
    assert (rule.max_busy_before, rule.max_others, rule.reruns) == (quiet.Rule.max_busy_before, 0.3, 1)
    assert quiet.Rule.from_dict(rule.as_dict()) == rule


def test_settle_measures_the_machine_and_gives_up_at_its_deadline() -> None:
    got = quiet.settle(max_busy=1.0, window_s=0.05)  # any machine is at most fully busy: one window
    assert 0.0 <= got["busy_before"] <= 1.0 and got["settled_s"] < 1.0
    got = quiet.settle(max_busy=-1.0, timeout_s=0.1, window_s=0.05)  # never settles: the deadline ends it
    assert 0.1 <= got["settled_s"] < 1.0


def test_others_cpu_is_the_machines_busy_time_less_ours() -> None:
    cpu = {"machine_busy_s": 6.0, "gwlab_process_s": 1.0, "gwlab_children_s": 1.5, "lab_processes_s": {"bgpd": 0.5}}
    got = quiet.others(cpu, wall_s=10.0)
    assert got["others_cpu_s"] == pytest.approx(3.0)
    assert got["others_share"] == pytest.approx(3.0 / (quiet.CORES * 10.0), abs=1e-3)
    # Busy time beyond what the cores offered (jiffies against the wall clock) is clipped.
    assert quiet.others({**cpu, "machine_busy_s": 1e6}, wall_s=1.0)["others_share"] <= 1.0


def _gen(sites: int, ups: list[float], pss: float) -> dict[str, Any]:
    runs = [{"ok": True, "up_s": u, "down_s": 0.1 * sites, "memory": {"pss_mib": pss}} for u in ups]
    return {"kind": "generated", "sites": sites, "runs": runs, "summary": {"up_s": sorted(ups)[len(ups) // 2]}}


def test_the_cost_per_site_is_the_least_squares_line_through_every_run() -> None:
    assert scale.fit([1, 2, 3], [3, 5, 7]) == pytest.approx((1.0, 2.0))
    assert scale.fit([1, 1], [2, 3]) is None
    data = {"gwlab": [_gen(10, [3.0, 3.2, 2.8], 100 + 30 * 10), _gen(20, [5.0], 100 + 30 * 20), _gen(40, [9.0], 1300)]}
    lines = scale.per_site(data)
    up, pss = lines["up_s"], lines["pss_mib"]
    assert up is not None and up[1] == pytest.approx(0.2, abs=1e-9) and up[0] == pytest.approx(1.0, abs=1e-9)
    assert pss is not None and pss[1] == pytest.approx(30.0) and pss[0] == pytest.approx(100.0)


def test_the_munet_ratio_pairs_runs_of_the_same_round() -> None:
    data = {
        "munet": {
            "lab": "hybrid",
            "runs": [
                {"ok": True, "round": 1, "up_s": 10.0},
                {"ok": False, "round": 2},
                {"ok": True, "round": 3, "up_s": 8.0},
            ],
        },
        "gwlab": [
            {
                "lab": "hybrid",
                "runs": [
                    {"ok": True, "round": 1, "up_s": 2.0},
                    {"ok": True, "round": 2, "up_s": 1.0},
                    {"ok": True, "round": 3, "up_s": 4.0},
                ],
            }
        ],
    }
    assert report.paired_ratios(data) == [(1, 2.0, 10.0), (3, 4.0, 8.0)]
    assert report.ratio(data) == pytest.approx(0.5)  # median of 0.2 and 0.5: the upper middle of two


def test_what_down_left_behind_is_listed_run_by_run_and_nothing_when_clean() -> None:
    data: dict[str, Any] = {
        "gwlab": [
            {"lab": "hybrid", "runs": [{"leftovers": []}, {"leftovers": []}]},
            {"lab": "200 sites", "runs": [{"leftovers": [f"process {p}" for p in range(10, 15)]}]},
        ]
    }
    assert report.left_behind(data) == [
        "**`down` reported something left behind** in these runs:",
        "",
        "- 200 sites, run 1: 5 left (process 10, process 11, process 12, ...)",
        "",
    ]
    assert report.left_behind({"gwlab": data["gwlab"][:1]}) == []
