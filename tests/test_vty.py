"""Commands and configuration straight onto a real bgpd's vty socket (lab.runtime.frr), as vtysh gives them."""

from __future__ import annotations

import os
import pwd
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab import poll
from lab.errors import GwlabError
from lab.runtime.daemons import FRR_SBIN
from lab.runtime.frr import configure, vty, vty_session
from lab.runtime.netns import FRR_RUN_ROOT
from tests.helpers import require_root


@pytest.fixture
def bgpd() -> Iterator[Path]:
    """A bgpd in a network namespace of its own (only its loopback, down: nothing leaves it), no BGP
    port; its vty socket directory, which holds its files too (pytest's temporary directory is root's
    alone, and bgpd reads its configuration as frr)."""
    require_root()
    frr = pwd.getpwnam("frr")
    name = f"gwlab-vty-{uuid.uuid4().hex[:8]}"
    sockets = FRR_RUN_ROOT / name
    sockets.mkdir(parents=True)
    conf = sockets / "frr.conf"
    conf.write_text("frr version 8.4\nfrr defaults traditional\nhostname vty\n!\nrouter bgp 65001\n!\n")
    for path in (sockets, conf):
        os.chown(path, frr.pw_uid, frr.pw_gid)
    argv = ["unshare", "--net", str(FRR_SBIN / "bgpd"), "-N", name, "-f", str(conf), "-p", "0", "-P", "0"]
    argv += ["-u", "frr", "-g", "frr", "-i", str(sockets / "bgpd.pid"), "--log", f"file:{sockets / 'bgpd.log'}"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert poll.poll(lambda: (sockets / "bgpd.vty").exists(), timeout_s=10).ok, "bgpd opened no vty socket"
        yield sockets
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        for left in sockets.iterdir():
            left.unlink()
        sockets.rmdir()


def test_configuration_lines_reach_bgpd_and_a_refused_line_is_named(bgpd: Path) -> None:
    configure(bgpd, "bgpd", ["router bgp 65001", "neighbor 192.0.2.1 remote-as 65002", "neighbor 192.0.2.1 bfd"])
    running = vty_session(bgpd, "bgpd", ["enable", "show running-config"])[-1]
    assert " neighbor 192.0.2.1 remote-as 65002\n neighbor 192.0.2.1 bfd\n" in running
    with pytest.raises(GwlabError, match=r"'neighbor 192\.0\.2\.1 no-such-option' failed: % \[BGP\] Unknown command"):
        configure(bgpd, "bgpd", ["router bgp 65001", "neighbor 192.0.2.1 no-such-option"])
    # A view-mode connection refuses what needs enable, as vtysh's first connection would.
    with pytest.raises(GwlabError, match="'configure terminal' failed"):
        vty(bgpd, "bgpd", "configure terminal")
    assert "192.0.2.1" in vty(bgpd, "bgpd", "show bgp ipv4 unicast summary")
