"""bgpd's start-up configuration and the BFD lines gwlab gives it once BGP is up (lab.runtime.bgp_bfd)."""

from __future__ import annotations

from lab.load import load
from lab.render import render_all
from lab.runtime import bgp_bfd


def test_bgpd_starts_from_frr_conf_without_its_bfd_lines_and_gets_them_later() -> None:
    files = render_all(load("hybrid"))
    frr = files["s1-ce0/frr.conf"]
    start = files[f"s1-ce0/{bgp_bfd.START_CONF}"]
    lines = bgp_bfd.bfd_lines(frr)
    assert lines[0].startswith("router bgp ") and lines[1:] == ["neighbor 172.16.0.2 bfd profile er"]
    assert "bfd profile" not in start.split("router bgp", 1)[1]
    # Nothing else differs: the same file with the note on top and the BFD line out.
    assert start.splitlines()[1:] == [line for line in frr.splitlines() if line.strip() not in lines[1:]]
    # bfdd has the session declared, so it comes up while bgpd waits to connect.
    assert " peer 172.16.0.2\n  profile er\n" in frr
    assert files["msee0/frr.conf"].count("passive-mode") == 1 and "profile er-passive" in files["msee0/frr.conf"]


def test_only_routers_with_bfd_have_a_start_configuration() -> None:
    topo = load("hybrid")
    files = render_all(topo)
    with_bfd = {n.name for n in topo.routers() if bgp_bfd.runs_bfd(n)}
    assert with_bfd == {"msee0", "msee1", "s1-ce0", "s1-ce1"}
    assert {p.split("/")[0] for p in files if p.endswith(bgp_bfd.START_CONF)} == with_bfd
    assert bgp_bfd.conf_name(topo.nodes["gw0"], "bgpd") == "frr.conf"
    assert bgp_bfd.conf_name(topo.nodes["s1-ce0"], "bgpd") == bgp_bfd.START_CONF
    assert bgp_bfd.conf_name(topo.nodes["s1-ce0"], "zebra") == "frr.conf"
    assert bgp_bfd.bfd_lines(files["gw0/frr.conf"]) == []
