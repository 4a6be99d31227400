"""Pure IPsec logic: DPD arithmetic, PSKs, rendering (with golden files), swanctl's SA output, log diagnosis.

Golden files are in tests/data/ipsec/; after an intended change regenerate with
`GWLAB_UPDATE_GOLDEN=1 pytest tests/test_ipsec_logic.py` and review the diff.
"""

from __future__ import annotations

import os
import stat
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lab.errors import GwlabError, Problem
from lab.ipsec import diagnose, dpd, proposals, psk, render, sas, spec
from lab.profiles import PROFILES

GOLDEN = Path(__file__).parent / "data" / "ipsec"
SECRET = bytes(range(32))  # a fixed test secret: the derived keys below are test data, not secrets

# -- DPD ----------------------------------------------------------------------------------------------


def test_retransmit_sums_match_what_was_measured() -> None:
    # ipsec.md §4: (2, 3, 1.5) -> 16.25 s, (2, 2, 1.5) -> 9.5 s, (3, 3, 1.5) -> 24.4 s, defaults -> 165 s
    assert dpd.Retransmit(2, 3, 1.5).total() == pytest.approx(16.25)
    assert dpd.Retransmit(2, 2, 1.5).total() == pytest.approx(9.5)
    assert dpd.Retransmit(3, 3, 1.5).total() == pytest.approx(24.375)
    assert dpd.STRONGSWAN_DEFAULT.total() == pytest.approx(165.1, abs=0.1)


def test_detection_windows_contain_the_measured_times() -> None:
    # measured: dpd 5 s + (2, 3, 1.5) -> 20.2 s; dpd 3 s + (2, 2, 1.5) -> 12.1 s; IKEv1 5/20 -> 16.9 s
    low, high = dpd.Dpd(2, 5, None, dpd.Retransmit(2, 3, 1.5)).detection_window()
    assert (low, high) == (16.25, 21.25) and low <= 20.2 <= high
    low, high = dpd.Dpd(2, 3, None, dpd.Retransmit(2, 2, 1.5)).detection_window()
    assert low <= 12.1 <= high
    low, high = dpd.Dpd(1, 5, 20, dpd.Retransmit(2, 2, 1.5)).detection_window()
    assert (low, high) == (15.0, 20.0) and low <= 16.9 <= high
    assert dpd.Dpd(1, 6, 20, dpd.Retransmit(2, 2, 1.5)).detection_window() == (18.0, 24.0)


@pytest.mark.parametrize(
    ("target", "version", "expected"),
    [
        (45, 2, dpd.Dpd(2, 15, None, dpd.Retransmit(3.692, 3, 1.5))),  # Azure's default
        (2, 2, dpd.Dpd(2, 1, None, dpd.Retransmit(0.4, 1, 1.5))),  # the fast profile
        (9, 2, dpd.Dpd(2, 3, None, dpd.Retransmit(0.738, 3, 1.5))),  # Azure's minimum
        (45, 1, dpd.Dpd(1, 15, 45, dpd.Retransmit(3.692, 3, 1.5))),
        (10, 1, dpd.Dpd(1, 2, 10, dpd.Retransmit(0.985, 3, 1.5))),
    ],
)
def test_settings_for_a_target(target: int, version: dpd.IkeVersion, expected: dpd.Dpd) -> None:
    assert dpd.for_target(target, version) == expected


@given(st.integers(min_value=2, max_value=3600), st.sampled_from([1, 2]))
def test_any_target_is_met(target: int, version: dpd.IkeVersion) -> None:
    settings = dpd.for_target(target, version)
    assert settings.detection_s() == pytest.approx(target, abs=0.01)
    assert settings.retransmit.tries <= dpd.MAX_TRIES
    assert settings.retransmit.waits()[0] >= dpd.MIN_FIRST_WAIT_S - 0.001
    if version == 1:
        assert settings.timeout == target and target % settings.delay == 0


def test_dpd_target_per_profile_and_override() -> None:
    assert dpd.target_for(PROFILES["realistic"].dpd_s, None) == 45.0
    assert dpd.target_for(PROFILES["fast"].dpd_s, 30) == 30.0
    fast = PROFILES["fast"]
    assert dpd.for_target(dpd.target_for(fast.dpd_s, None), 2).detection_s() < fast.hold  # DPD detects first


def test_override_outside_azures_range() -> None:
    assert dpd.check_override(9, "x") is None and dpd.check_override(3600, "x") is None
    assert dpd.check_override(8, "conn.dpd_timeout_s") == Problem(
        "conn.dpd_timeout_s", "8 s is outside Azure's DPD timeout range (use 9-3600 s)"
    )
    assert dpd.check_override(3601, "x") is not None


# -- PSKs ---------------------------------------------------------------------------------------------


def test_derived_keys_are_stable_distinct_and_valid() -> None:
    a = psk.derive_psk(SECRET, "s1-vpn0~gw0")
    assert a == psk.derive_psk(SECRET, "s1-vpn0~gw0")
    assert a != psk.derive_psk(SECRET, "s1-vpn0~gw1")
    assert a != psk.derive_psk(SECRET, "s1-vpn0~gw0", variant="mismatch")
    assert a != psk.derive_psk(bytes(32), "s1-vpn0~gw0")
    assert len(a) == psk.DERIVED_LENGTH and a.isalnum() and a.isascii()
    assert psk.check_psk(a, "k") is None


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("abc12", "the pre-shared key has 5 characters, too short"),
        ("x" * 129, "the pre-shared key has 129 characters, too long"),
        ("geheim-schlüssel", "the pre-shared key has a character that is not printable ASCII at position 12"),
        ("with a space", "the pre-shared key has a character that is not printable ASCII at position 5"),
        ("tab\there-too", "the pre-shared key has a character that is not printable ASCII at position 4"),
    ],
)
def test_bad_keys_get_one_line_naming_field_and_fix(key: str, message: str) -> None:
    problem = psk.check_psk(key, "onprem.sites[0].devices[0].psk")
    assert problem is not None
    line = problem.line("lab.yaml")
    fix = "(use 8-128 printable ASCII characters without spaces, or leave it out to derive one)"
    assert line == f"lab.yaml: onprem.sites[0].devices[0].psk: {message} {fix}"
    assert key not in line


def test_private_files(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k"
    path.parent.mkdir(mode=0o755)
    path.write_text("old")
    path.chmod(0o644)
    psk.write_private(path, b"new")
    st_ = os.stat(path)
    assert stat.S_IMODE(st_.st_mode) == 0o600 and st_.st_uid == os.geteuid() and path.read_bytes() == b"new"
    link = tmp_path / "link"
    link.symlink_to(path)
    with pytest.raises(OSError):
        psk.write_private(link, b"x")


def test_lab_secret(tmp_path: Path) -> None:
    path = tmp_path / "lab.key"
    first = psk.lab_secret(path)
    assert len(first) == psk.LAB_SECRET_BYTES and psk.lab_secret(path) == first
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    path.chmod(0o644)
    with pytest.raises(GwlabError, match="mode 0600"):
        psk.lab_secret(path)


# -- rendering ----------------------------------------------------------------------------------------


def instances() -> dict[str, spec.Instance]:
    key = psk.derive_psk(SECRET, "s1-vpn0~gw0")
    fast = dpd.for_target(2, 2)
    common = {"proposals": proposals.ROUTE_BASED, "dpd": fast, "psk": key, "vti": "r0"}
    a = IPv4Address
    vnet, lan = ("10.1.0.0/16",), ("192.168.10.0/24", "192.168.11.0/24")
    creds = spec.Credentials()
    return {
        "route-based-azure": spec.site_to_site(
            "s1-vpn0~gw0", side="initiator", version=2, local_addr=a("100.64.0.6"), remote_addr=a("198.51.100.10"),
            local_id="203.0.113.10", remote_id="198.51.100.10", **common,  # type: ignore[arg-type]
        ),
        "route-based-onprem": spec.site_to_site(
            "s1-vpn0~gw0", side="responder", version=2, local_addr=a("100.64.0.2"), remote_addr=a("203.0.113.10"),
            local_id="198.51.100.10", remote_id="203.0.113.10", **common,  # type: ignore[arg-type]
        ),
        "policy-based-azure": spec.site_to_site(
            "s1-vpn0~gw0", side="initiator", version=1, local_addr=a("100.64.0.6"), remote_addr=a("198.51.100.10"),
            local_id="203.0.113.10", remote_id="198.51.100.10", proposals=proposals.POLICY_BASED,
            dpd=dpd.for_target(45, 1), psk=key, local_ts=vnet, remote_ts=lan, vti="r0",
        ),
        "p2s-gateway": spec.p2s_gateway(
            "p2s-gw0", local_addr=a("100.64.0.10"), gateway_id="vpngw.lab.test", vnet=(IPv4Network(vnet[0]),),
            pool=IPv4Network("172.16.201.0/29"), dpd=fast, credentials=creds, cert="gw.pem", cacert="ca.pem",
        ),
        "p2s-client": spec.p2s_client(
            "p2s-alice", gateway_addr=a("203.0.113.10"), client_id="alice@lab.test", gateway_id="vpngw.lab.test",
            vnet=(IPv4Network(vnet[0]),), dpd=fast, credentials=creds, cert="alice.pem", cacert="ca.pem",
        ),
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(instances()))
def test_rendered_files_match_golden(name: str) -> None:
    files = {rel: data.decode() for rel, (data, _) in render.render(instances()[name], "/usr/sbin/ip").items()}
    files.pop("swanctl/secrets.conf")  # keys stay out of the repository, even test keys
    folder = GOLDEN / name
    if os.environ.get("GWLAB_UPDATE_GOLDEN") == "1":
        for rel, text in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text, encoding="utf-8")
    expected = {str(p.relative_to(folder)): p.read_text(encoding="utf-8") for p in folder.rglob("*") if p.is_file()}
    assert files == expected


def test_plugin_order_and_no_resolve() -> None:
    conf = render.render(instances()["route-based-azure"])["run/strongswan.conf"][0].decode()
    load = next(line for line in conf.splitlines() if line.strip().startswith("load =")).split("=", 1)[1].split()
    assert load.index("kernel-libipsec") < load.index("kernel-netlink")
    assert max(load.index("openssl"), load.index("aesni")) < min(load.index("aes"), load.index("gcm"))
    assert "resolve" not in load and "load_modular = no" in conf
    assert "retransmit_timeout = 0.400" in conf and "retransmit_tries = 1" in conf


def test_keys_only_in_the_private_file() -> None:
    inst = instances()["route-based-onprem"]
    key = inst.secrets[0].psk
    files = render.render(inst)
    for rel, (data, mode) in files.items():
        assert key.encode() not in data, rel
        if rel == "swanctl/secrets.conf":
            assert mode == 0o600 and b"secret = 0s" in data
    assert key not in repr(inst)


def test_who_initiates_and_what_dpd_does() -> None:
    azure = instances()["route-based-azure"].connections[0].children[0]
    onprem = instances()["route-based-onprem"].connections[0].children[0]
    assert (azure.start_action, azure.dpd_action) == ("start", "restart")
    assert (onprem.start_action, onprem.dpd_action) == ("none", "clear")


def test_ikev1_gets_one_child_per_selector_pair() -> None:
    children = instances()["policy-based-azure"].connections[0].children
    assert [(c.local_ts, c.remote_ts) for c in children] == [
        (("10.1.0.0/16",), ("192.168.10.0/24",)),
        (("10.1.0.0/16",), ("192.168.11.0/24",)),
    ]


def test_log_levels_that_would_log_keys_are_refused() -> None:
    inst = instances()["route-based-azure"]
    loud = spec.Instance(inst.name, inst.connections, inst.retransmit, inst.secrets, log_level=4)
    with pytest.raises(ValueError, match="keys"):
        render.render(loud)


def test_write_keeps_private_files_private(tmp_path: Path) -> None:
    layout = render.Layout(tmp_path / "inst")
    render.write(layout, render.render(instances()["route-based-onprem"]))
    assert stat.S_IMODE(os.stat(layout.root).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(layout.swanctl / "secrets.conf").st_mode) == 0o600
    assert os.access(layout.run / "updown.sh", os.X_OK)


def test_missing_strongswan_is_one_line_with_the_fix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from lab.runtime.ipsec import charon

    monkeypatch.setattr(charon, "CHARON", tmp_path / "no-charon")
    with pytest.raises(GwlabError) as err:
        charon.check_strongswan()
    assert str(err.value) == (
        "strongSwan not found (run 'make setup', or apt-get install strongswan-charon strongswan-swanctl "
        "libcharon-extra-plugins libstrongswan-standard-plugins; or use tunnel kind vxlan)"
    )


# -- SA state and diagnosis ---------------------------------------------------------------------------

RAW = (
    "list-sa event {s1-vpn0~gw0 {uniqueid=1 version=2 state=ESTABLISHED local-host=100.64.0.6 local-port=4500 "
    "local-id=203.0.113.10 remote-host=198.51.100.10 remote-port=4500 remote-id=198.51.100.10 initiator=yes "
    "initiator-spi=c8ae7221639b3a5c responder-spi=b4df7f1e16f8ff4e nat-local=yes nat-remote=yes nat-any=yes "
    "encr-alg=AES_CBC encr-keysize=256 integ-alg=HMAC_SHA1_96 prf-alg=PRF_HMAC_SHA1 dh-group=MODP_1024 "
    "established=0 rekey-time=28542 child-sas {s1-vpn0~gw0-1 {name=s1-vpn0~gw0 uniqueid=1 reqid=1 "
    "state=INSTALLED mode=TUNNEL protocol=ESP encap=yes spi-in=25f003ae spi-out=6ea704bf encr-alg=AES_GCM_16 "
    "encr-keysize=256 bytes-in=0 packets-in=7 bytes-out=0 packets-out=9 rekey-time=24953 life-time=29700 "
    "install-time=0 local-ts=[0.0.0.0/0] remote-ts=[0.0.0.0/0]}}}}\n"
    "list-sa event {p2s {uniqueid=4 version=2 state=CONNECTING local-host=%any remote-host=203.0.113.10 "
    "local-vips=[172.16.201.1] child-sas {}}}\n"
    "list-sas reply {}\n"
)


def test_list_sas_raw_parses() -> None:
    parsed = sas.parse_list_sas(RAW)
    first = parsed[0]
    assert (first.connection, first.state, first.initiator, first.version) == ("s1-vpn0~gw0", "ESTABLISHED", True, 2)
    child = first.children[0]
    assert (child.name, child.state, child.local_ts, child.encryption) == (
        "s1-vpn0~gw0",
        "INSTALLED",
        ("0.0.0.0/0",),
        "AES_GCM_16-256",
    )
    assert (child.packets_in, child.packets_out) == (7, 9)
    assert parsed[1].virtual_ips == ("172.16.201.1",) and parsed[1].children == ()
    states = sas.summarize(parsed, ["s1-vpn0~gw0", "p2s", "gone"])
    assert states["s1-vpn0~gw0"].up
    assert (states["p2s"].ike, states["p2s"].child, states["p2s"].up) == ("CONNECTING", "NONE", False)
    assert (states["gone"].ike, states["gone"].ike_sas) == ("DOWN", 0)
    assert sas.parse_list_sas("list-sas reply {}\n") == []


LOG = """\
19:22:01.101 11[IKE] <s2s|1> tried 1 shared key for '198.51.100.2' - '198.51.100.1', but MAC mismatched
19:22:01.102 11[ENC] <s2s|1> generating IKE_AUTH response 1 [ N(AUTH_FAILED) ]
19:22:02.001 05[IKE] <s2s|2> traffic selectors 10.2.0.0/24 === 10.1.0.0/24 unacceptable
19:22:02.002 05[IKE] <s2s|2> failed to establish CHILD_SA, keeping IKE_SA
19:22:03.000 07[IKE] <s2s|3> received proposals unacceptable
19:22:04.000 07[CFG] <4> no IKE config found for 198.51.100.2...198.51.100.1, sending NO_PROPOSAL_CHOSEN
19:22:05.000 09[IKE] <s2s|5> giving up after 3 retransmits
19:22:06.000 09[IKE] <s2s|6> received INVALID_ID_INFORMATION error notify
"""


def test_log_findings() -> None:
    found = diagnose.findings(LOG)
    assert [f.kind for f in found] == [
        "psk-mismatch",
        "selector-mismatch",
        "proposal-mismatch",
        "no-config",
        "peer-silent",
        "selector-mismatch",
    ]
    assert found[0].time == "19:22:01.101" and found[0].line.endswith("but MAC mismatched")
    assert found[0].explanation == "pre-shared key mismatch: authentication failed"


def test_latest_finding(tmp_path: Path) -> None:
    log = tmp_path / "charon.log"
    assert diagnose.latest(log) is None
    log.write_text(LOG)
    latest = diagnose.latest(log, kinds=("psk-mismatch", "proposal-mismatch"))
    assert latest is not None and latest.kind == "proposal-mismatch"
