"""Which addresses a media download may connect to (`bot/whatsapp/media.py`), table-driven:
every way an IPv6 address can carry an IPv4 one is unwrapped and judged by that IPv4
address too, and the IPv6 ranges Python 3.11 calls global although they are not reachable
public hosts (site-local, IPv4-compatible) are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.whatsapp.media import MediaFetcher, MediaRules, Refused
from storage.evidence_files import EvidenceStore

ADDRESSES = [
    # plain IPv4
    ("8.8.8.8", True),
    ("127.0.0.1", False),
    ("10.1.2.3", False),
    ("172.16.0.1", False),
    ("192.168.1.1", False),
    ("169.254.169.254", False),  # link-local: cloud metadata
    ("100.64.0.1", False),  # carrier-grade NAT
    ("0.0.0.0", False),
    ("224.0.0.1", False),
    ("240.0.0.1", False),
    ("255.255.255.255", False),
    ("192.0.2.1", False),  # documentation
    # plain IPv6
    ("2606:4700::1111", True),
    ("::1", False),
    ("::", False),
    ("fe80::1", False),
    ("fc00::1", False),
    ("fd12:3456::1", False),
    ("ff02::1", False),
    ("2001:db8::1", False),
    ("fec0::1", False),  # site-local (deprecated): Python 3.11 calls it global
    ("fe80::1%eth0", False),
    # IPv4-mapped
    ("::ffff:8.8.8.8", True),
    ("::ffff:127.0.0.1", False),
    ("::ffff:10.0.0.1", False),
    ("::ffff:169.254.169.254", False),
    # IPv4-compatible (deprecated, never a real host): refused whatever it embeds
    ("::127.0.0.1", False),
    ("::10.0.0.1", False),
    ("::8.8.8.8", False),
    # 6to4
    ("2002:7f00:1::", False),  # 127.0.0.1
    ("2002:a00:1::1", False),  # 10.0.0.1
    ("2002:a9fe:a9fe::1", False),  # 169.254.169.254
    ("2002:808:808::1", True),  # 8.8.8.8
    # Teredo: server and client (obfuscated) IPv4
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # client 127.0.0.1
    ("2001:0:a00:1:8000:63bf:f7f7:f7f7", False),  # server 10.0.0.1
    ("2001:0:808:808:8000:63bf:f7f7:f7f7", False),  # both public: Teredo is never a media host
    # NAT64
    ("64:ff9b::7f00:1", False),  # 127.0.0.1
    ("64:ff9b::a9fe:a9fe", False),  # 169.254.169.254
    ("64:ff9b::c0a8:101", False),  # 192.168.1.1
    ("64:ff9b::808:808", True),  # 8.8.8.8
    ("64:ff9b:1::a00:1", False),  # local-use NAT64 (RFC 8215)
]


@pytest.mark.parametrize(("address", "allowed"), ADDRESSES)
def test_address_rules(address: str, allowed: bool) -> None:
    assert MediaRules().address_allowed(address) is allowed


def test_the_allow_list_still_exempts_test_networks() -> None:
    rules = MediaRules.from_settings([], ["127.0.0.0/8", "::1/128"], None)
    assert rules.address_allowed("127.0.0.1") and rules.address_allowed("::1")
    assert not rules.address_allowed("2002:7f00:1::"), "an exemption is for the address, not what it embeds"


@pytest.mark.parametrize("host", ["[2002:7f00:1::]", "[fec0::1]", "[::ffff:127.0.0.1]", "[64:ff9b::7f00:1]",
                                  "[::127.0.0.1]", "127.0.0.1", "[2001:0:4136:e378:8000:63bf:80ff:fffe]"])
async def test_a_url_naming_such_an_address_is_refused_before_any_connection(host: str, tmp_path: Path) -> None:
    fetcher = MediaFetcher(EvidenceStore(tmp_path), "AC1", "token", MediaRules())
    with pytest.raises(Refused):
        await fetcher.fetch(f"https://{host}/media/1")
    await fetcher.close()
