"""Route 53 record sets turned into dnspython rrsets: the data the DNS server answers from.

Pure: nothing here talks to moto. `route53_source` fetches the record sets.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

log = logging.getLogger(__name__)

# Route 53 writes special characters as backslash + three *octal* digits (`\052` is `*`),
# where zone-file syntax, and so dnspython, reads three *decimal* digits.
_ESCAPE = re.compile(r"\\(?:([0-7]{3})|(.))", re.DOTALL)
# moto 5.2.5 stores the default SOA as the repr of a dict: "{'Value': 'ns-2048... 86400'}".
_MOTO_SOA = re.compile(r"^\{'Value': '(.*)'\}$")


@dataclass(frozen=True)
class HostedZone:
    zone_id: str
    origin: dns.name.Name
    account: str = ""  # the AWS account holding it ("": the stack's own)


@dataclass
class ZoneData:
    origin: dns.name.Name
    nodes: dict[dns.name.Name, dict[dns.rdatatype.RdataType, dns.rrset.RRset]] = field(
        default_factory=dict
    )

    def rrsets_at(self, name: dns.name.Name) -> Mapping[dns.rdatatype.RdataType, dns.rrset.RRset]:
        return self.nodes.get(name, {})

    def exists(self, name: dns.name.Name) -> bool:
        """True for names with records and for empty non-terminals (names only above others)."""
        if name in self.nodes:
            return True
        return any(owner.is_subdomain(name) for owner in self.nodes)

    def soa(self) -> dns.rrset.RRset:
        found = self.rrsets_at(self.origin).get(dns.rdatatype.SOA)
        if found is not None:
            return found
        return dns.rrset.from_text(
            self.origin,
            900,
            "IN",
            "SOA",
            f"ns-local.invalid. hostmaster.{self.origin.to_text()} 1 7200 900 1209600 86400",
        )


def route53_name(text: str) -> dns.name.Name:
    """A Route 53 record or zone name (octal escapes, maybe no final dot) as a lowercase Name."""

    def plain(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            char = chr(int(match.group(1), 8))
            return "\\" + char if char in '.\\"() ;@$' else char
        return match.group(0)

    return dns.name.from_text(_ESCAPE.sub(plain, text.strip().lower()), origin=dns.name.root)


def zone_from_record_sets(
    origin: dns.name.Name, record_sets: Iterable[Mapping[str, Any]]
) -> ZoneData:
    zone = ZoneData(origin=origin)
    for record_set in record_sets:
        rrset = rrset_from_route53(record_set)
        if rrset is None or not rrset.name.is_subdomain(origin):
            continue
        node = zone.nodes.setdefault(rrset.name, {})
        # Weighted/latency sets share name and type; a real server answers one of them.
        node.setdefault(rrset.rdtype, rrset)
    return zone


def rrset_from_route53(record_set: Mapping[str, Any]) -> dns.rrset.RRset | None:
    values = [r["Value"] for r in record_set.get("ResourceRecords", [])]
    if not values:
        return None  # alias records carry no values to serve
    name = route53_name(record_set["Name"])
    rdtype = dns.rdatatype.from_text(record_set["Type"])
    rrset = dns.rrset.RRset(name, dns.rdataclass.IN, rdtype)
    rrset.update_ttl(int(record_set.get("TTL", 300)))
    for value in values:
        rdata = _rdata(rdtype, value)
        if rdata is not None:
            rrset.add(rdata)
    return rrset if len(rrset) else None


def _rdata(rdtype: dns.rdatatype.RdataType, value: str) -> dns.rdata.Rdata | None:
    text = _zone_file_text(rdtype, value)
    try:
        return dns.rdata.from_text(
            dns.rdataclass.IN, rdtype, text, origin=dns.name.root, relativize=False
        )
    except (dns.exception.DNSException, ValueError) as error:
        log.warning("cannot serve %s value %r: %s", rdtype.name, value, error)
        return None


def _zone_file_text(rdtype: dns.rdatatype.RdataType, value: str) -> str:
    if rdtype == dns.rdatatype.SOA:
        moto_form = _MOTO_SOA.match(value)
        if moto_form:
            return moto_form.group(1)
    if rdtype in (dns.rdatatype.TXT, dns.rdatatype.SPF):

        def decimal(match: re.Match[str]) -> str:
            if match.group(1) is not None:
                return f"\\{int(match.group(1), 8):03d}"
            return match.group(0)

        return _ESCAPE.sub(decimal, value)
    return value
