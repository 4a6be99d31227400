"""The facade on a running lab, as an exercise's checks use it (issue 10): oracle state, FRR's JSON with a
subset match and a deadline, probes, a failure injected while checking and restored afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from controller.session import LabSession
from lab.errors import GwlabError
from tests.helpers import require_root
from tests.labs import leftovers, unique

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.fixture(scope="module")
def session() -> Iterator[LabSession]:
    require_root()
    with LabSession.up("active-active", name=unique("ses")) as lab:
        yield lab
    assert leftovers(lab.name) == []


def test_oracle_state_and_the_fibs_agree(session: LabSession) -> None:
    assert session.differences() == []
    assert session.expected_paths() == session.fib_paths() == {"s1->azure": ["gw0", "gw1"], "azure->s1": ["gw0", "gw1"]}
    assert set(session.targets()) >= {"gw0", "gw1", "s1-vpn0", "s1-vpn0~gw0"}
    assert session.targets()["gw0"] == ("crash", "graceful")
    assert session.elements("s1-vpn0~gw0").tunnels == {"s1-vpn0~gw0"}


def test_frr_json_with_a_subset_match(session: LabSession) -> None:
    peer = next(n for n in session.node("s1-vpn0").bgp.neighbors if n.peer == "gw0")  # type: ignore[union-attr]
    expected = {"ipv4Unicast": {"peers": {str(peer.address): {"state": "Established"}}}}
    found = session.wait_json("s1-vpn0", "show bgp summary json", expected, timeout_s=10)
    assert found.ok and found.differences == [], found.differences
    wrong = session.wait_json(
        "s1-vpn0", "show bgp summary json", {"ipv4Unicast": {"as": 1}}, timeout_s=1.0, interval_s=0.2
    )
    assert not wrong.ok and wrong.differences == ["ipv4Unicast.as: expected 1, got 65010"]
    assert 1.0 <= wrong.seconds < 5
    with pytest.raises(GwlabError, match="has no node 'nowhere'"):
        session.vtysh_json("nowhere", "show bgp summary json")


def test_a_failure_while_checking_measured_and_restored(session: LabSession) -> None:
    """A graceful maintenance of gw0 inside a check: traffic is back at once (a withdraw), measured per
    direction; afterwards the lab is as it was."""
    with session.probes(flows=8, rate=200):
        before = session.observe(300)
        assert before == session.expected_paths()
        with session.failed("gw0", "graceful") as outcome:
            assert outcome.converged and outcome.detection == "withdraw"
            assert outcome.paths == outcome.expected_paths == {"s1->azure": ["gw1"], "azure->s1": ["gw1"]}
            assert session.active() == ["gw0"]
            assert session.observe(300) == {"s1->azure": ["gw1"], "azure->s1": ["gw1"]}
        assert session.active() == []
    assert max(outcome.outage_ms.values()) < 1000, outcome.outage_ms
    assert outcome.restore is not None and outcome.restore.converged
    assert outcome.window_end_ms == outcome.restore.restored_ms
    assert session.differences() == []
    report = session.report("checks")
    assert report.failures == [outcome] and report.flows and report.arrivals
