"""Which addresses a fetch may connect to: the SSRF policy.

An address is refused when it is not globally routable: loopback, RFC 1918 private,
carrier-grade NAT, link-local (cloud metadata at 169.254.169.254 and fd00:ec2::254 included),
multicast, unspecified, reserved, documentation and benchmarking ranges. IPv6 forms that
carry an IPv4 address (IPv4-mapped, IPv4-compatible, IPv4-translated, 6to4, NAT64) are judged
by the IPv4 address inside them, so `::ffff:127.0.0.1` is loopback.
"""
from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

from shared.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Spelled out for the reader; `is_global` (checked too) covers the rest of the IANA special registries.
FORBIDDEN_NETWORKS: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10",
    "fec0::/10", "ff00::/8",
))
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0[xX][0-9a-fA-F]*)$")


class NotAnAddress(ValueError):
    """A host that looks like a literal IP (ends in a number) but is not a valid one."""


def effective_address(ip: IPAddress) -> IPAddress:
    """The address that decides: the IPv4 address inside an IPv6 address that embeds one."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _IPV4_COMPATIBLE or ip in _IPV4_TRANSLATED or ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def is_public(ip: IPAddress) -> bool:
    ip = effective_address(ip)
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return False
    return not any(ip in net for net in FORBIDDEN_NETWORKS if net.version == ip.version)


def literal_ip(host: str) -> IPAddress | None:
    """The address a host spells, if it spells one; None for a name.

    IPv4 is read the way the C resolver reads it (`inet_aton`): decimal `2130706433`, hex
    `0x7f000001`, octal `0177.0.0.1` and short `127.1` all mean 127.0.0.1. As in the WHATWG URL
    standard, a host whose last label is a number is an IPv4 address or invalid, never a name.
    """
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise NotAnAddress(f"{host!r} is not a valid IPv6 address") from exc
    bare = host.rstrip(".")
    if not _NUMERIC_LABEL.match(bare.rsplit(".", 1)[-1]):
        return None
    if not re.fullmatch(r"[0-9a-fA-FxX.]+", bare):
        raise NotAnAddress(f"{host!r} ends in a number but is not an IPv4 address")
    try:
        return ipaddress.IPv4Address(socket.inet_aton(bare))
    except OSError as exc:
        raise NotAnAddress(f"{host!r} ends in a number but is not an IPv4 address") from exc


@dataclass(frozen=True)
class AddressPolicy:
    allow_private: bool = False  # READOUT_FETCH_ALLOW_PRIVATE: anything goes
    allowed: tuple[IPNetwork, ...] = ()  # READOUT_FETCH_ALLOW_NETWORKS: these despite the rules

    @classmethod
    def from_settings(cls, settings: Settings) -> AddressPolicy:
        return cls(settings.fetch_allow_private,
                   tuple(ipaddress.ip_network(n, strict=False) for n in settings.fetch_allow_networks))

    def permits(self, ip: IPAddress) -> bool:
        if self.allow_private:
            return True
        decisive = effective_address(ip)
        if any(decisive in net for net in self.allowed if net.version == decisive.version):
            return True
        return is_public(ip)
