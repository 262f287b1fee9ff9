"""Which network addresses the service may connect to when it fetches something a reporter
named or sent (a WhatsApp file's URL, a share link's hops): a public one only, so a hostile
URL cannot make the service reach its own network (SSRF). One rule for every fetcher."""

from __future__ import annotations

import ipaddress

NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def public_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether a fetch may connect to `ip`: a global unicast address, and for an
    IPv6 address that carries an IPv4 one (mapped, 6to4, Teredo, NAT64), that IPv4 address
    is global too. Site-local and IPv4-compatible addresses, which Python 3.11 still calls
    global, are refused outright, as is local-use NAT64."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return public_address(ip.ipv4_mapped)
        if ip.is_site_local or ip in IPV4_COMPATIBLE or ip in LOCAL_NAT64 or ip.teredo is not None:
            return False
        if ip in NAT64:
            return public_address(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip.sixtofour is not None:
            return public_address(ip.sixtofour)
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_link_local
                                 or ip.is_loopback or ip.is_private)
