"""Azure's default IPsec/IKE proposals, in strongSwan's syntax and Azure's order of preference.

Source: MicrosoftDocs/azure-docs, articles/vpn-gateway/vpn-gateway-about-vpn-devices.md, section
"Default IPsec/IKE parameters" (ms.date 10/06/2023): Main Mode DH group 2 (modp1024), PSK, SA lifetime
28,800 s; Quick Mode lifetime 3,600 s policy-based / 27,000 s route-based, 102,400,000 KB; the
route-based Quick Mode offers are the same as initiator and as responder, the first six without PFS.
Left out: single DES and the PFS variants of route-based Quick Mode (offers 7-26) - single DES is not in
OpenSSL 3's default provider, and IKEv2's first CHILD_SA (the one in IKE_AUTH) never runs a DH exchange.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Proposals:
    ike: tuple[str, ...]
    esp: tuple[str, ...]
    ike_lifetime_s: int
    child_lifetime_s: int
    child_lifetime_bytes: int | None


_MODP = "modp1024"  # DH group 2

ROUTE_BASED = Proposals(
    ike=tuple(
        f"{c}-{_MODP}"
        for c in ("aes256-sha1", "aes256-sha256", "aes128-sha1", "aes128-sha256", "3des-sha1", "3des-sha256")
    ),
    esp=("aes256gcm16", "aes256-sha1", "3des-sha1", "aes256-sha256", "aes128-sha1", "3des-sha256"),
    ike_lifetime_s=28800,
    child_lifetime_s=27000,
    child_lifetime_bytes=102_400_000 * 1024,
)

POLICY_BASED = Proposals(
    ike=tuple(f"{c}-{_MODP}" for c in ("aes256-sha256", "aes256-sha1", "aes128-sha1", "3des-sha1")),
    esp=("aes256-sha256", "aes256-sha1", "aes128-sha1", "3des-sha1"),
    ike_lifetime_s=28800,
    child_lifetime_s=3600,
    child_lifetime_bytes=102_400_000 * 1024,
)

# Point-to-site IKEv2 (ipsec.md §5, what Windows' and strongSwan's clients propose), not from Azure's table.
P2S = Proposals(
    ike=("aes256-sha256-modp1024", "aes256-sha256-modp2048", "aes256gcm16-prfsha256-ecp256"),
    esp=("aes256gcm16", "aes256-sha256"),
    ike_lifetime_s=28800,
    child_lifetime_s=27000,
    child_lifetime_bytes=None,
)
