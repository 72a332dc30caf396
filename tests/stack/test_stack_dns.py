"""The authoritative DNS server answers from moto's Route 53 zones as Route 53 would."""

from __future__ import annotations

from collections.abc import Callable

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from botocore.exceptions import ClientError

from local_stack import Stack

pytestmark = pytest.mark.stack

Label = Callable[[str], str]


def _is_authoritative(reply: dns.message.Message) -> bool:
    return bool(reply.flags & dns.flags.AA)


def _answer(reply: dns.message.Message, rdtype: str) -> list[str]:
    wanted = dns.rdatatype.from_text(rdtype)
    return sorted(rd.to_text() for rrset in reply.answer if rrset.rdtype == wanted for rd in rrset)


def _soa_owner(reply: dns.message.Message) -> str:
    (soa,) = [rrset for rrset in reply.authority if rrset.rdtype == dns.rdatatype.SOA]
    return str(soa.name)


def test_txt_values_come_back_unquoted_and_chunked(stack: Stack, records, label: Label) -> None:
    name = f"_acme-challenge.{label('txt')}.example.com"
    records.put("example.com", name, "TXT", ['"token-one"', '"part-a" "part-b"'])

    reply = stack.dns_query(name, "TXT")

    assert reply.rcode() == dns.rcode.NOERROR
    assert _is_authoritative(reply)
    (rrset,) = reply.answer
    assert sorted(rd.strings for rd in rrset) == [(b"part-a", b"part-b"), (b"token-one",)]
    assert rrset.ttl == 60


def test_records_show_at_once_and_vanish_at_once(stack: Stack, records, label: Label) -> None:
    name = f"_acme-challenge.{label('fresh')}.example.com"
    assert stack.dns_query(name, "TXT").rcode() == dns.rcode.NXDOMAIN
    records.put("example.com", name, "TXT", ['"now"'])
    assert _answer(stack.dns_query(name, "TXT"), "TXT") == ['"now"']
    records.delete_all()
    assert stack.dns_query(name, "TXT").rcode() == dns.rcode.NXDOMAIN


def test_caa(stack: Stack, records, label: Label) -> None:
    name = f"{label('caa')}.example.net"
    records.put("example.net", name, "CAA", ['0 issue "letsencrypt.org"', '0 issuewild ";"'])

    reply = stack.dns_query(name, "CAA")

    assert _is_authoritative(reply)
    caa = sorted((rd.flags, rd.tag, rd.value) for rd in reply.answer[0])
    assert caa == [(0, b"issue", b"letsencrypt.org"), (0, b"issuewild", b";")]


def test_cname_chain_into_another_hosted_zone(stack: Stack, records, label: Label) -> None:
    alias = f"{label('alias')}.example.com"
    target = f"{label('target')}.team.example.com"
    records.put("example.com", alias, "CNAME", [target])
    records.put("team.example.com", target, "TXT", ['"at-the-end"'])

    reply = stack.dns_query(alias, "TXT")

    assert reply.rcode() == dns.rcode.NOERROR
    assert _is_authoritative(reply)
    assert _answer(reply, "CNAME") == [f"{target}."]
    assert _answer(reply, "TXT") == ['"at-the-end"']
    assert _answer(stack.dns_query(alias, "CNAME"), "CNAME") == [f"{target}."]


def test_cname_out_of_our_zones_is_returned_alone(stack: Stack, records, label: Label) -> None:
    alias = f"{label('away')}.example.com"
    records.put("example.com", alias, "CNAME", ["validation.example.org"])

    reply = stack.dns_query(alias, "TXT")

    assert reply.rcode() == dns.rcode.NOERROR
    assert [rrset.rdtype for rrset in reply.answer] == [dns.rdatatype.CNAME]


def test_missing_name_is_nxdomain_with_the_zone_soa(stack: Stack, label: Label) -> None:
    reply = stack.dns_query(f"{label('nobody')}.example.com", "A")

    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert _is_authoritative(reply)
    assert not reply.answer
    assert _soa_owner(reply) == "example.com."


def test_nodata_and_empty_non_terminal(stack: Stack, records, label: Label) -> None:
    parent = f"{label('ent')}.example.com"
    records.put("example.com", f"_acme-challenge.{parent}", "TXT", ['"x"'])

    for name, rdtype in ((f"_acme-challenge.{parent}", "A"), (parent, "TXT"), (parent, "A")):
        reply = stack.dns_query(name, rdtype)
        assert reply.rcode() == dns.rcode.NOERROR, (name, rdtype)
        assert _is_authoritative(reply)
        assert not reply.answer
        assert _soa_owner(reply) == "example.com."


def test_longest_label_suffix_picks_the_zone(stack: Stack, label: Label) -> None:
    reply = stack.dns_query(f"{label('deep')}.team.example.com", "TXT")
    assert _soa_owner(reply) == "team.example.com."
    apex = stack.dns_query("team.example.com", "SOA")
    assert _answer(apex, "SOA") and _is_authoritative(apex)


@pytest.mark.parametrize("name", ["example.org", "notexample.com", "com", "."])
def test_names_outside_every_zone_are_refused(stack: Stack, name: str) -> None:
    reply = stack.dns_query(name, "A")
    assert reply.rcode() == dns.rcode.REFUSED
    assert not _is_authoritative(reply)


def test_wildcard_records_answer_for_missing_names(stack: Stack, records, label: Label) -> None:
    base = f"{label('wild')}.example.net"
    records.put("example.net", f"*.{base}", "TXT", ['"from-the-wildcard"'])

    reply = stack.dns_query(f"anything.{base}", "TXT")

    assert reply.rcode() == dns.rcode.NOERROR
    assert str(reply.answer[0].name) == f"anything.{base}."
    assert _answer(reply, "TXT") == ['"from-the-wildcard"']


def test_delegation_below_a_zone_gives_a_referral(stack: Stack, records, label: Label) -> None:
    child = f"{label('child')}.example.net"
    records.put("example.net", child, "NS", ["ns1.example.org.", "ns2.example.org."])

    reply = stack.dns_query(f"www.{child}", "A")

    assert reply.rcode() == dns.rcode.NOERROR
    assert not _is_authoritative(reply)
    assert not reply.answer
    assert reply.authority[0].rdtype == dns.rdatatype.NS


def test_big_txt_set_truncates_over_udp_and_completes_over_tcp(
    stack: Stack, records, label: Label
) -> None:
    name = f"_acme-challenge.{label('big')}.example.com"
    values = [f'"{index:02d}-{"v" * 60}"' for index in range(30)]
    records.put("example.com", name, "TXT", values)

    plain = stack.dns_query(name, "TXT")
    assert plain.flags & dns.flags.TC
    over_tcp = stack.dns_query(name, "TXT", tcp=True)
    assert not over_tcp.flags & dns.flags.TC
    assert len(_answer(over_tcp, "TXT")) == 30
    with_edns = stack.dns_query(name, "TXT", payload=4096)
    assert not with_edns.flags & dns.flags.TC
    assert len(_answer(with_edns, "TXT")) == 30
    assert with_edns.edns >= 0
    small_edns = stack.dns_query(name, "TXT", payload=1232)
    assert small_edns.flags & dns.flags.TC


def test_query_counter(stack: Stack, label: Label) -> None:
    before = stack.stats()["dns"]
    stack.dns_query(f"{label('count')}.example.com", "CAA")
    after = stack.stats()["dns"]
    assert after["total"] == before["total"] + 1
    assert after["by_qtype"]["CAA"] == before["by_qtype"].get("CAA", 0) + 1


def test_route53_is_strict(stack: Stack, records, label: Label) -> None:
    """route53_strict is installed: CREATE over an existing set fails as in real Route 53."""
    name = f"_acme-challenge.{label('strict')}.example.com"
    records.put("example.com", name, "TXT", ['"first"'])
    with pytest.raises(ClientError) as caught:
        records.put("example.com", name, "TXT", ['"second"'])
    assert caught.value.response["Error"]["Code"] == "InvalidChangeBatch"
