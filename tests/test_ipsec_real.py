"""Real IPsec: charon with kernel-libipsec in namespaces these tests make and remove themselves
(tests/ipsec_world.py), real packets through ESP-in-UDP, real silent peers. Figures go to the test
output (-s) and to junit properties; no timing is asserted beyond the deadlines that define "works"."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv4Network

import pytest
from pyroute2 import IPRoute

from lab.ipsec import diagnose, dpd, pki, proposals, psk, render, spec
from lab.ipsec.sas import ConnectionState, summarize
from lab.profiles import PROFILES
from lab.runtime.ipsec import endpoint, status
from lab.runtime.ipsec.charon import CHARON, Charon, wait_for
from lab.runtime.nsenter import call_in
from lab.runtime.processes import alive
from lab.runtime.state import RUN_ROOT
from tests import ipsec_world as iw
from tests.helpers import IN_CI, require_root, require_tool
from tests.labs import processes_mentioning, unique

pytestmark = [pytest.mark.slow, pytest.mark.root]
CONN = "s1-vpn0~gw0"
FAST = dpd.for_target(PROFILES["fast"].dpd_s, 2)
UP_TIMEOUT_S = 15.0
Start = Callable[..., Charon]


@pytest.fixture(scope="module")
def world() -> Iterator[iw.World]:
    require_root()
    require_tool("swanctl")
    require_tool("nft")
    if not CHARON.exists():
        message = f"{CHARON} not found (run 'make setup')"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    w = iw.build(unique("ipx"))
    root = RUN_ROOT / w.prefix
    try:
        yield w
    finally:
        left = w.destroy()
        shutil.rmtree(root, ignore_errors=True)
        assert left == [], f"left behind: {left}"
        assert processes_mentioning(str(root)) == []
        assert not root.exists()


@pytest.fixture
def start(world: iw.World, request: pytest.FixtureRequest) -> Iterator[Start]:
    """start(node, instance, tunnel=True): render, start charon in the node's namespace, load; every
    charon started is stopped by pid afterwards, and its files removed."""
    started: list[Charon] = []

    def run(node: str, inst: spec.Instance, tunnel: bool = True) -> Charon:
        layout = render.Layout(RUN_ROOT / world.prefix / node)
        render.write(layout, render.render(inst))
        charon = Charon(f"{world.prefix}-{node}", world.ns(node), layout)
        started.append(charon)
        charon.start(keep_rule_220=not tunnel)
        if tunnel:
            endpoint.attach_tunnel(world.ns(node))
        charon.load()
        return charon

    failed_before = request.session.testsfailed
    yield run
    if request.session.testsfailed > failed_before:  # show what charon said: the only way to see a CI failure
        for charon in started:
            with contextlib.suppress(OSError):
                print(
                    f"--- {charon.name}\n"
                    + "\n".join(
                        [
                            ln
                            for ln in charon.layout.log.read_text().splitlines()
                            if "[NET]" not in ln and "[ENC]" not in ln
                        ][-30:]
                    )
                )
    pids = [c.pid for c in started if c.pid is not None]
    for charon in started:
        charon.stop()
        shutil.rmtree(charon.layout.root, ignore_errors=True)
    assert [p for p in pids if alive(p)] == []


def s2s_pair(
    version: dpd.IkeVersion = 2,
    onprem_psk: str | None = None,
    azure_ts: tuple[tuple[str, ...], tuple[str, ...]] = (spec.ANY_TS, spec.ANY_TS),
    onprem_ts: tuple[tuple[str, ...], tuple[str, ...]] | None = None,
    azure_endpoint: str = "gt",
) -> tuple[spec.Instance, spec.Instance]:
    """(on-prem end in rt, Azure end in gt); traffic selectors as (local, remote) of the Azure end."""
    key = psk.derive_psk(SECRET, CONN)
    props = proposals.ROUTE_BASED if version == 2 else proposals.POLICY_BASED
    settings = dpd.for_target(PROFILES["fast"].dpd_s, version)
    azure = spec.site_to_site(
        CONN, side="initiator", version=version, local_addr=iw.ENDPOINT_WAN[azure_endpoint].ip,
        remote_addr=iw.ONPREM_PUBLIC, local_id=str(iw.AZURE_PUBLIC), remote_id=str(iw.ONPREM_PUBLIC),
        proposals=props, dpd=settings, psk=key, local_ts=azure_ts[0], remote_ts=azure_ts[1], vti="r0",
    )  # fmt: skip
    local_ts, remote_ts = onprem_ts or (azure_ts[1], azure_ts[0])
    onprem = spec.site_to_site(
        CONN, side="responder", version=version, local_addr=iw.ENDPOINT_WAN["rt"].ip, remote_addr=iw.AZURE_PUBLIC,
        local_id=str(iw.ONPREM_PUBLIC), remote_id=str(iw.AZURE_PUBLIC), proposals=props, dpd=settings,
        psk=onprem_psk or key, local_ts=local_ts, remote_ts=remote_ts, vti="r0",
    )  # fmt: skip
    return onprem, azure


SECRET = os.urandom(psk.LAB_SECRET_BYTES)  # a fresh lab secret per test run


LAN, VNET = (str(iw.ONPREM_LAN),), (str(iw.VNET),)


def anchor(world: iw.World, onprem: spec.Instance, azure: spec.Instance) -> None:
    for node, inst in (("rt", onprem), ("gt", azure)):
        prefixes = {IPv4Network(ts) for c in inst.connections for ch in c.children for ts in ch.local_ts}
        endpoint.anchor_selectors(world.ns(node), sorted(prefixes))


def state(charon: Charon, conn: str = CONN) -> ConnectionState:
    return summarize(charon.sas(), [conn])[conn]


def all_up(*charons: Charon) -> Callable[[], bool]:
    return lambda: all(state(c).up for c in charons)


def carrier(world: iw.World, node: str, dev: str) -> bool:
    """The router sees carrier on its VTI (the endpoint's end is up): read over netlink, not /sys, which
    shows the host's interfaces unless remounted in the namespace."""

    def read() -> bool:
        with IPRoute() as ipr:
            return bool(ipr.get_links(ifname=dev)[0].get_attr("IFLA_CARRIER"))

    return call_in(world.ns(node), read)


def updown_events(charon: Charon) -> list[tuple[float, str]]:
    try:
        lines = charon.layout.updown_log.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [(float(line.split()[0]), line.split()[1]) for line in lines]


def report(record_property: Callable[[str, object], None], **figures: object) -> None:
    for key, value in figures.items():
        record_property(key, value)
    print("  ".join(f"{k}={v}" for k, v in figures.items()))


def assert_no_key_anywhere(key: str, *charons: Charon, extra: str = "") -> None:
    """Neither the key nor its base64/hex forms in any log, output or non-private file. charon's level 4
    dumps keys as spaced hex ("61 62 63 ..."): measured, it is how a key would reach its log."""
    raw = key.encode()
    forms = [key, base64.b64encode(raw).decode(), raw.hex(), " ".join(f"{b:02x}" for b in raw[:8])]
    for charon in charons:
        for path in charon.layout.root.rglob("*"):
            if not path.is_file() or path.is_socket():
                continue
            mode = os.stat(path)
            if path.name == "secrets.conf":
                assert stat.S_IMODE(mode.st_mode) == 0o600 and mode.st_uid == 0
                continue
            text = path.read_bytes().decode(errors="replace")
            assert not any(f in text for f in forms), f"key material in {path}"
    assert not any(f in extra for f in forms)


def test_route_based_ikev2_psk_carries_traffic(world: iw.World, start: Start, record_property: Callable) -> None:
    onprem, azure = s2s_pair()
    t0 = time.monotonic()
    rt = start("rt", onprem)
    gt = start("gt", azure)  # the Azure end, in a namespace known only as /proc/<pid>/ns/net
    started = time.monotonic() - t0
    wait_for(all_up(rt, gt), UP_TIMEOUT_S, "CHILD_SA INSTALLED on both ends")
    to_child = time.monotonic() - t0
    assert state(gt).ike_sas == 1 and state(rt).ike_sas == 1
    # The updown hook gave the routers carrier on their VTIs; routing alone puts traffic into the tunnel.
    wait_for(lambda: carrier(world, "r", "vti0") and carrier(world, "g", "vti0"), 5, "VTI carrier")
    assert world.ping("r", iw.VNET_VM, iw.ONPREM_HOST, count=5) == 5
    packets = sum(c.packets_in for s in gt.sas() for c in s.children)
    assert packets >= 5, "the pings did not go through the SA"
    shown = status.read([status.End(CONN, "s1-vpn0", rt, CONN), status.End(CONN, "gw0", gt, CONN)])
    assert [(s.end, s.running, s.state.up if s.state else None, s.problem) for s in shown] == [
        ("s1-vpn0", True, True, None),
        ("gw0", True, True, None),
    ]
    assert onprem.secrets[0].psk not in json.dumps([s.as_json() for s in shown])
    pss = {n: c.pss_kib() for n, c in (("onprem", rt), ("azure", gt))}
    assert_no_key_anywhere(onprem.secrets[0].psk, rt, gt, extra=rt.load() + gt.load())
    report(
        record_property, charons_started_s=round(started, 3), child_sa_installed_s=round(to_child, 3),
        pss_kib_onprem=pss["onprem"], pss_kib_azure=pss["azure"],
    )  # fmt: skip


def test_restart_after_kill9(world: iw.World, start: Start, record_property: Callable) -> None:
    """A charon killed with -9 leaves its pid file and socket behind; the next start removes them."""
    onprem, azure = s2s_pair()
    rt = start("rt", onprem)
    gt = start("gt", azure)
    wait_for(all_up(rt, gt), UP_TIMEOUT_S, "tunnel up")
    gt.stop(grace_s=0)
    assert gt.layout.charon_pidfile.exists(), "kill -9 should leave charon's pid file"
    t0 = time.monotonic()
    gt.start()
    endpoint.attach_tunnel(world.ns("gt"))
    gt.load()
    wait_for(all_up(rt, gt), UP_TIMEOUT_S, "tunnel up again after kill -9")
    assert world.ping("r", iw.VNET_VM, iw.ONPREM_HOST) == 3
    report(record_property, restart_to_child_sa_s=round(time.monotonic() - t0, 3))


def test_active_standby_takeover_reestablishes_ike(world: iw.World, start: Start, record_property: Callable) -> None:
    """The active instance crashes, the standby takes its public IP over and initiates at once; the
    on-prem end (responder) replaces the dead SA by the standby's (same identities, unique = replace)."""
    onprem, azure = s2s_pair()
    _, standby = s2s_pair(azure_endpoint="gt2")
    rt = start("rt", onprem)
    gt = start("gt", azure)
    wait_for(all_up(rt, gt), UP_TIMEOUT_S, "tunnel to the active instance")
    assert world.ping("r", iw.VNET_VM, iw.ONPREM_HOST) == 3
    before = len(updown_events(rt))
    try:
        gt.stop(grace_s=0)  # the active instance is gone: its charon and its public interface
        iw.crash_instance(world, "g")
        crashed = time.monotonic()
        iw.take_over(world, "g2")  # the platform's failover delay is the scenario's; here it is 0
        gt2 = start("gt2", standby)
        wait_for(lambda: state(gt2).up and state(rt).up, UP_TIMEOUT_S, "CHILD_SA with the standby")
        to_child = time.monotonic() - crashed
        wait_for(lambda: world.ping("r", iw.VNET_VM, iw.ONPREM_HOST, count=1) == 1, 10, "traffic via the standby")
        to_traffic = time.monotonic() - crashed
        wait_for(lambda: state(rt).ike_sas == 1, 10, "the dead instance's SA replaced on-prem")
        events = [verb for _, verb in updown_events(rt)[before:]]
        assert carrier(world, "r", "vti0")
        report(
            record_property, takeover_to_child_sa_s=round(to_child, 3), takeover_to_traffic_s=round(to_traffic, 3),
            onprem_updown_after_crash=",".join(events) or "none",
        )  # fmt: skip
    finally:
        iw.give_back(world, "g", "g2")


@pytest.mark.parametrize("version", [2, 1], ids=["ikev2-route-based", "ikev1-policy-based"])
def test_dpd_takes_the_vti_down_and_back(
    world: iw.World, start: Start, record_property: Callable, version: dpd.IkeVersion
) -> None:
    ts = (spec.ANY_TS, spec.ANY_TS) if version == 2 else ((str(iw.VNET),), (str(iw.ONPREM_LAN),))
    onprem, azure = s2s_pair(version=version, azure_ts=ts)
    anchor(world, onprem, azure)
    settings = onprem.connections[0].dpd
    rt = start("rt", onprem)
    gt = start("gt", azure)
    wait_for(all_up(rt, gt), UP_TIMEOUT_S, "tunnel up")
    wait_for(lambda: carrier(world, "r", "vti0"), 5, "on-prem VTI carrier")
    low, high = settings.detection_window()
    before = len(updown_events(rt))
    silent_at = time.time()
    world.silence("g", "pub")  # the Azure instance stops answering: no carrier change anywhere
    wait_for(lambda: len(updown_events(rt)) > before, high + 5, "down-client on the on-prem end")
    down_at, verb = updown_events(rt)[-1]
    assert verb == "down-client"
    wait_for(lambda: not carrier(world, "r", "vti0"), 2, "on-prem VTI without carrier")
    finding = diagnose.latest(rt.layout.log, kinds=("peer-silent",))
    assert finding is not None
    detected = down_at - silent_at
    time.sleep(1.0)  # the peer stays dead a while longer: part of the scenario, not synchronisation
    back_at = time.time()
    world.unsilence("g")
    wait_for(all_up(rt, gt), UP_TIMEOUT_S, "tunnel back after the peer returned")
    wait_for(lambda: carrier(world, "r", "vti0"), 5, "on-prem VTI carrier again")
    up_at = next(t for t, v in reversed(updown_events(rt)) if v == "up-client")
    assert world.ping("r", iw.VNET_VM, iw.ONPREM_HOST) == 3
    report(
        record_property, **{f"ikev{version}_dpd_computed_window_s": f"{low:.2f}-{high:.2f}"},
        **{f"ikev{version}_dpd_detected_s": round(detected, 3)},
        back_after_return_s=round(up_at - back_at, 3), reconnect_gap_bound_s=round(settings.reconnect_gap_s(), 3),
    )  # fmt: skip


def test_psk_mismatch_no_sa_and_the_log_says_why(world: iw.World, start: Start, record_property: Callable) -> None:
    wrong = psk.derive_psk(SECRET, CONN, variant="mismatch")
    onprem, azure = s2s_pair(onprem_psk=wrong)
    t0 = time.monotonic()
    rt = start("rt", onprem)
    gt = start("gt", azure)
    wait_for(
        lambda: (
            diagnose.latest(gt.layout.log, ("psk-mismatch",)) is not None
            and diagnose.latest(rt.layout.log, ("psk-mismatch",)) is not None
        ),
        UP_TIMEOUT_S,
        "the authentication failure in both logs",
    )
    seen = time.monotonic() - t0
    for charon in (rt, gt):
        assert state(charon).ike != "ESTABLISHED" and state(charon).child == "NONE"
    responder = diagnose.latest(rt.layout.log, ("psk-mismatch",))
    initiator = diagnose.latest(gt.layout.log, ("psk-mismatch",))
    assert responder is not None and "MAC mismatched" in responder.line
    assert initiator is not None and "AUTHENTICATION_FAILED" in initiator.line
    shown = status.read([status.End(CONN, "s1-vpn0", rt, CONN), status.End(CONN, "gw0", gt, CONN)])
    assert {s.problem for s in shown} == {"pre-shared key mismatch: authentication failed"}
    assert_no_key_anywhere(wrong, rt, gt)
    assert_no_key_anywhere(azure.secrets[0].psk, rt, gt)
    report(record_property, psk_mismatch_diagnosed_s=round(seen, 3), responder_says=responder.line.split("> ", 1)[-1])


@pytest.mark.parametrize("version", [1, 2], ids=["ikev1-policy-based", "ikev2-use-policy-based-ts"])
def test_policy_based_selectors(world: iw.World, start: Start, record_property: Callable, version: int) -> None:
    onprem, azure = s2s_pair(version=version, azure_ts=(VNET, LAN))  # type: ignore[arg-type]
    anchor(world, onprem, azure)
    t0 = time.monotonic()
    rt = start("rt", onprem)
    gt = start("gt", azure)
    wait_for(all_up(rt, gt), UP_TIMEOUT_S, "IKE and CHILD SA up")
    to_child = time.monotonic() - t0
    sa = gt.sas()[0]
    assert sa.version == version
    assert (sa.children[0].local_ts, sa.children[0].remote_ts) == (VNET, LAN)
    wait_for(lambda: carrier(world, "r", "vti0"), 5, "VTI carrier")
    assert world.ping("r", iw.VNET_VM, iw.ONPREM_HOST) == 3
    report(record_property, **{f"ikev{version}_selectors_child_sa_s": round(to_child, 3)})


@pytest.mark.parametrize("version", [1, 2], ids=["ikev1", "ikev2"])
def test_selector_mismatch_ike_up_no_child(world: iw.World, start: Start, version: int) -> None:
    onprem_ts = (("192.168.99.0/24",), VNET)
    onprem, azure = s2s_pair(version=version, azure_ts=(VNET, LAN), onprem_ts=onprem_ts)  # type: ignore[arg-type]
    anchor(world, onprem, azure)
    rt = start("rt", onprem)
    gt = start("gt", azure)
    wait_for(
        lambda: state(gt).ike == "ESTABLISHED" and diagnose.latest(gt.layout.log, ("selector-mismatch",)) is not None,
        UP_TIMEOUT_S,
        "IKE up and the selector refusal logged",
    )
    for charon in (rt, gt):
        assert state(charon).ike == "ESTABLISHED" and state(charon).child == "NONE"
    assert not carrier(world, "r", "vti0")
    assert world.ping("r", iw.VNET_VM, iw.ONPREM_HOST, count=2) == 0


def test_point_to_site_client_with_certificate(world: iw.World, start: Start, record_property: Callable) -> None:
    ca = pki.new_ca(world.prefix)
    gw_id, client_id = f"vpngw.{world.prefix}.test", f"alice@{world.prefix}.test"
    gw_cert, client_cert = ca.issue(gw_id, server=True), ca.issue(client_id, server=False)
    vnet = (iw.VNET,)
    gateway = spec.p2s_gateway(
        "p2s", local_addr=iw.ENDPOINT_WAN["gp"].ip, gateway_id=gw_id, vnet=vnet, pool=iw.P2S_POOL, dpd=FAST,
        credentials=spec.Credentials(
            {"gw.pem": gw_cert.cert_pem}, {"ca.pem": ca.cert_pem}, {"gw.pem": gw_cert.key_pem}
        ),
        cert="gw.pem", cacert="ca.pem",
    )  # fmt: skip
    client = spec.p2s_client(
        "p2s", gateway_addr=iw.AZURE_PUBLIC, client_id=client_id, gateway_id=gw_id, vnet=vnet, dpd=FAST,
        credentials=spec.Credentials(
            {"alice.pem": client_cert.cert_pem}, {"ca.pem": ca.cert_pem}, {"alice.pem": client_cert.key_pem}
        ),
        cert="alice.pem", cacert="ca.pem",
    )  # fmt: skip
    endpoint.anchor_selectors(world.ns("gp"), [iw.VNET])  # its local selector is the VNet
    t0 = time.monotonic()
    gp = start("gp", gateway)
    endpoint.vti_up(world.ns("gp"), "r0")
    c = start("c", client, tunnel=False)  # a road warrior: charon's table 220 routes the VNet into ipsec0
    wait_for(lambda: state(c, "p2s").up and state(gp, "p2s").up, UP_TIMEOUT_S, "P2S CHILD_SA on client and gateway")
    to_child = time.monotonic() - t0
    vip = IPv4Address(state(c, "p2s").virtual_ips[0])
    assert vip in iw.P2S_POOL and state(gp, "p2s").virtual_ips == (str(vip),)
    assert world.ping("c", iw.VNET_VM, vip) == 3
    key_file = gp.layout.swanctl / "private" / "gw.pem"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    key_body = gw_cert.key_pem.decode().splitlines()[1]
    for path in (gp.layout.log, c.layout.log):
        assert key_body not in path.read_text()
    report(
        record_property, p2s_child_sa_s=round(to_child, 3), p2s_vip=str(vip), pss_kib_p2s_gateway=gp.pss_kib(),
        pss_kib_p2s_client=c.pss_kib(),
    )  # fmt: skip
