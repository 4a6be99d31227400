"""The pytest plugin, as a user would use it: a test file of their own, run by pytest, on a real lab."""

from __future__ import annotations

import pytest

from tests.helpers import REPO, require_root

pytestmark = [pytest.mark.root, pytest.mark.slow]

USER_TESTS = """
def test_instance_loss_moves_traffic(gwlab_lab, gwlab_probes, gwlab_fail):
    lab = gwlab_lab("active-active")
    with gwlab_probes(lab, flows=8, rate=200) as probes:
        live = gwlab_fail(lab, "gw0", "crash")
        # measured while the probes still run: traffic is on gw1 already
        assert live.paths == {"s1->azure": ["gw1"], "azure->s1": ["gw1"]}
        live_outage = dict(live.outage_ms)
    outcome = live  # the same result, its figures final once the probes have stopped
    # IPsec's dead-peer detection (1-2 s in the fast profile), shorter than the 3 s hold timer
    assert outcome.converged and outcome.detection == "dpd"
    assert outcome.paths == {"s1->azure": ["gw1"], "azure->s1": ["gw1"]}  # measured, data plane
    assert outcome.paths == outcome.expected_paths  # and what the oracle predicted
    assert all("gw0" in elements for elements in outcome.path_before.values()), outcome.path_before
    # the on-prem side waits for DPD; Azure's sees its instance go
    assert 900 <= outcome.outage_ms["s1->azure"] <= 3000, outcome.outage_ms
    assert outcome.outage_ms["azure->s1"] < 1000, outcome.outage_ms
    assert outcome.lost["s1->azure"] > 0
    assert abs(live_outage["s1->azure"] - outcome.outage_ms["s1->azure"]) < 100, (live_outage, outcome.outage_ms)
    # convergence is the last FIB change, not when the poll returned
    last = max(c.t_ms for c in outcome.fib_changes if c.node != "gw0")
    assert outcome.converged_ms == last - outcome.injected_ms
    assert {a.path.split("/")[0] for a in probes.arrivals} >= {"gw0", "gw1"}


def test_a_failing_expectation_fails(gwlab_lab, gwlab_fail):
    lab = gwlab_lab("active-active")
    outcome = gwlab_fail(lab, "gw1", "crash")
    assert outcome.expected_paths["s1->azure"] == ["gw1"], "deliberately wrong: gw1 is the one that failed"


def test_a_scenario_on_its_own_lab(gwlab_scenario):
    report = gwlab_scenario("graceful-maintenance")
    assert report.passed, [e for e in report.expectations if not e.passed]
    assert report.failures[0].restore is not None
"""


def test_plugin_fixtures_drive_a_real_lab(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    require_root()
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the user's test runs elsewhere; gwlab must import
    pytester.makepyfile(test_user=USER_TESTS)
    # -p no:gwlab: when gwlab is installed its entry point registers the plugin already.
    result = pytester.runpytest_subprocess(
        "-p",
        "no:gwlab",
        "-p",
        "controller.pytest_plugin",
        "--rootdir",
        str(pytester.path),
        "-q",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*deliberately wrong*"])
