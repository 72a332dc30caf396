"""Authoritative answers for the hosted zones, the way Route 53's name servers give them.

Pure: the zones come from a `ZoneSource`; `dns_server` does the sockets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from local_stack.zone_data import HostedZone, ZoneData

MAX_CNAME_CHAIN = 8


class ZoneSource(Protocol):
    def hosted_zones(self) -> list[HostedZone]: ...

    def zone_data(self, zone: HostedZone) -> ZoneData: ...


@dataclass
class Answer:
    rcode: dns.rcode.Rcode = dns.rcode.NOERROR
    authoritative: bool = True
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    additional: list[dns.rrset.RRset] = field(default_factory=list)


def respond(query: dns.message.Message, source: ZoneSource) -> dns.message.Message:
    response = dns.message.make_response(query, our_payload=1232)
    response.flags &= ~dns.flags.AA
    if query.opcode() != dns.opcode.QUERY:
        response.set_rcode(dns.rcode.NOTIMP)
        return response
    if len(query.question) != 1:
        response.set_rcode(dns.rcode.FORMERR)
        return response
    question = query.question[0]
    if question.rdclass != dns.rdataclass.IN:
        response.set_rcode(dns.rcode.REFUSED)
        return response
    result = resolve(question.name, question.rdtype, source)
    response.set_rcode(result.rcode)
    if result.authoritative:
        response.flags |= dns.flags.AA
    response.answer.extend(result.answer)
    response.authority.extend(result.authority)
    response.additional.extend(result.additional)
    return response


def resolve(qname: dns.name.Name, qtype: dns.rdatatype.RdataType, source: ZoneSource) -> Answer:
    zones = source.hosted_zones()
    zone = closest_zone(qname, zones)
    if zone is None:
        return Answer(rcode=dns.rcode.REFUSED, authoritative=False)
    data = source.zone_data(zone)
    referral = delegation(qname, qtype, data)
    if referral is not None:
        return referral
    result = Answer()
    name, seen = qname, {qname}
    for _ in range(MAX_CNAME_CHAIN):
        target = _answer_name(name, qtype, data, result)
        next_zone = None if target is None else closest_zone(target, zones)
        # Out of our zones the resolver follows the CNAME itself; a loop ends here too.
        if target is None or next_zone is None or target in seen:
            return result
        name = target
        seen.add(name)
        data = source.zone_data(next_zone)
        if delegation(name, qtype, data) is not None:
            return result
    return result


def closest_zone(name: dns.name.Name, zones: list[HostedZone]) -> HostedZone | None:
    """The zone with the longest label suffix of `name` (not a string suffix)."""
    candidates = [zone for zone in zones if name.is_subdomain(zone.origin)]
    return max(candidates, key=lambda zone: len(zone.origin), default=None)


def delegation(
    qname: dns.name.Name, qtype: dns.rdatatype.RdataType, data: ZoneData
) -> Answer | None:
    """A referral when `qname` sits at or below an NS cut inside the zone (not at the apex)."""
    labels_below_apex = len(qname) - len(data.origin)
    for depth in range(1, labels_below_apex + 1):  # the cut nearest the apex wins
        cut = qname.split(len(data.origin) + depth)[1]
        ns = data.rrsets_at(cut).get(dns.rdatatype.NS)
        if ns is None:
            continue
        if cut == qname and qtype == dns.rdatatype.DS:
            return None  # the parent side answers DS at a cut
        result = Answer(authoritative=False, authority=[ns])
        for server in ns:
            for glue_type in (dns.rdatatype.A, dns.rdatatype.AAAA):
                glue = data.rrsets_at(server.target).get(glue_type)
                if glue is not None:
                    result.additional.append(glue)
        return result
    return None


def _answer_name(
    name: dns.name.Name, qtype: dns.rdatatype.RdataType, data: ZoneData, result: Answer
) -> dns.name.Name | None:
    """Fill `result` for `name` in `data`; the CNAME target to follow next, if any."""
    rrsets = data.rrsets_at(name)
    if not rrsets and not data.exists(name):
        rrsets = _wildcard_rrsets(name, data)
        if not rrsets:
            result.rcode = dns.rcode.NXDOMAIN
            result.authority = [_negative_soa(data)]
            return None
    result.rcode = dns.rcode.NOERROR
    if qtype == dns.rdatatype.ANY and rrsets:
        result.answer.extend(_owned_by(name, rrset) for rrset in rrsets.values())
        return None
    if qtype in rrsets:
        result.answer.append(_owned_by(name, rrsets[qtype]))
        return None
    cname = rrsets.get(dns.rdatatype.CNAME)
    if cname is not None:
        result.answer.append(_owned_by(name, cname))
        return cname[0].target
    result.authority = [_negative_soa(data)]
    return None


def _wildcard_rrsets(
    name: dns.name.Name, data: ZoneData
) -> dict[dns.rdatatype.RdataType, dns.rrset.RRset]:
    """RFC 4592: `*.<closest encloser>` stands in for a name that does not exist."""
    encloser = name.parent()
    while not data.exists(encloser) and encloser != data.origin:
        encloser = encloser.parent()
    return dict(data.rrsets_at(dns.name.Name((b"*", *encloser.labels))))


def _owned_by(name: dns.name.Name, rrset: dns.rrset.RRset) -> dns.rrset.RRset:
    if rrset.name == name and rrset.name.labels == name.labels:
        return rrset
    copy = dns.rrset.RRset(name, rrset.rdclass, rrset.rdtype)
    copy.update(rrset)
    copy.update_ttl(rrset.ttl)
    return copy


def _negative_soa(data: ZoneData) -> dns.rrset.RRset:
    """RFC 2308: the SOA's TTL in a negative answer is min(SOA TTL, SOA MINIMUM)."""
    soa = data.soa()
    negative = dns.rrset.RRset(soa.name, soa.rdclass, soa.rdtype)
    negative.update(soa)
    negative.update_ttl(min(soa.ttl, soa[0].minimum))
    return negative
