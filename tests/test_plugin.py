"""The pytest plugin, as a user would use it: a test file of their own, run by pytest, on a real lab."""

from __future__ import annotations

import pytest

from tests.helpers import REPO, require_root

pytestmark = [pytest.mark.root, pytest.mark.slow]

USER_TESTS = """
def test_instance_loss_moves_traffic(gwlab_lab, gwlab_probes, gwlab_fail):
    lab = gwlab_lab("active-active")
    with gwlab_probes(lab, flows=4, rate=100) as probes:
        outcome = gwlab_fail(lab, "gw0", "crash")
    flows, arrivals = probes.result
    assert outcome.converged
    assert outcome.detection == "dpd"  # IPsec dead-peer detection, shorter than the hold timer
    assert outcome.paths == {"s1->azure": ["gw1"], "azure->s1": ["gw1"]}
    assert {a.path.split("/")[0] for a in arrivals} >= {"gw1"}


def test_a_failing_expectation_fails(gwlab_lab, gwlab_fail):
    lab = gwlab_lab("active-active")
    outcome = gwlab_fail(lab, "gw1", "crash")
    assert outcome.paths["s1->azure"] == ["gw1"], "deliberately wrong: gw1 is the one that failed"
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
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*deliberately wrong*"])
