"""CAA policy evaluation (RFC 8659, RFC 8657 parameters): pure, no DNS.

`evaluate` answers "will the CA refuse this name because of this CAA RRset?" the way
Let's Encrypt's validation authority (Boulder) does, so that a refusal is reported before an
order is placed (a refused authorization counts against the failed-validation rate limit).

Decisions, where the RFCs leave room or Let's Encrypt is stricter than a plain reading:
- The issuer domain is compared exactly, like Boulder does: `"LetsEncrypt.org"` or
  `"letsencrypt.org."` do not authorize Let's Encrypt. Such near misses are reported with the
  exact spelling to use instead of being passed as a match the CA would then refuse.
- Property tags are matched case-insensitively (`ISSUE` is `issue`).
- The critical flag is bit 128; bit 1 counts too, because Boulder honours that widespread
  misreading of RFC 6844.
- `accounturi` present but our account URI unknown (the account is created after the
  pre-flight on a first run): the property still authorizes, with a warning. Blocking would stop
  a deployment whose account the operator did pin; letting it through costs at worst one
  failed authorization, and the warning names the record.
- A property with malformed parameters, or more than one `accounturi` or `validationmethods`
  parameter, authorizes nobody (Boulder skips it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

LETS_ENCRYPT = "letsencrypt.org"
DEFAULT_IDENTITIES: tuple[str, ...] = (LETS_ENCRYPT,)
VALIDATION_METHOD = "dns-01"

CRITICAL_FLAG_BITS = 128 | 1
KNOWN_TAGS = frozenset({"issue", "issuewild", "iodef"})

_PARAMETER_TAG = re.compile(r"[A-Za-z0-9]+(?:-*[A-Za-z0-9]+)*")
_PARAMETER_VALUE = re.compile(r"[\x21-\x3a\x3c-\x7e]*")
_METHOD_LABEL = re.compile(r"[A-Za-z0-9-]+")
_WSP = " \t"


@dataclass(frozen=True)
class CaaRecord:
    flags: int
    tag: str
    value: str

    @property
    def critical(self) -> bool:
        return bool(self.flags & CRITICAL_FLAG_BITS)

    @property
    def kind(self) -> str:
        return self.tag.lower()

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.flags} {self.tag} "{escaped}"'


RecordLike = CaaRecord | tuple[int, str, str]


@dataclass(frozen=True)
class IssueValue:
    """An `issue`/`issuewild` value split per RFC 8659 §4.2; `error` if the syntax is broken."""

    issuer: str
    parameters: tuple[tuple[str, str], ...] = ()
    error: str | None = None

    def values_of(self, tag: str) -> list[str]:
        return [value for name, value in self.parameters if name == tag]


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str = ""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Judgement:
    """How one relevant property treats our CA: `refusal` is None when it authorizes us."""

    record: CaaRecord
    refusal: str | None = None
    warning: str | None = None


def as_record(record: RecordLike) -> CaaRecord:
    if isinstance(record, CaaRecord):
        return record
    flags, tag, value = record
    return CaaRecord(int(flags), tag, value)


def parse_issue_value(value: str) -> IssueValue:
    issuer, _, rest = value.partition(";")
    issuer = issuer.strip(_WSP)
    if not rest.strip(_WSP):
        return IssueValue(issuer)
    parameters: list[tuple[str, str]] = []
    for part in rest.split(";"):
        tag, equals, parameter_value = part.partition("=")
        tag, parameter_value = tag.strip(_WSP), parameter_value.strip(_WSP)
        if not equals or not _PARAMETER_TAG.fullmatch(tag):
            return IssueValue(issuer, error=f"parameter {part.strip(_WSP)!r} is not tag=value")
        if not _PARAMETER_VALUE.fullmatch(parameter_value):
            return IssueValue(issuer, error=f"parameter {tag}={parameter_value!r} has a bad value")
        parameters.append((tag, parameter_value))
    return IssueValue(issuer, tuple(parameters))


def relevant_records(records: Sequence[CaaRecord], *, wildcard: bool) -> list[CaaRecord]:
    """RFC 8659 §4.3: issuewild governs wildcards when present, issue otherwise."""
    issuewild = [r for r in records if r.kind == "issuewild"]
    if wildcard and issuewild:
        return issuewild
    return [r for r in records if r.kind == "issue"]


def evaluate(
    name: str,
    records: Iterable[RecordLike],
    *,
    owner: str | None = None,
    alias: str | None = None,
    identities: Sequence[str] = DEFAULT_IDENTITIES,
    account_uri: str | None = None,
) -> Verdict:
    """Judge the relevant CAA RRset found at `owner` for `name` (`*.` prefix = wildcard).

    `alias` is the name whose CNAME led to `owner`, for the message only.
    """
    rrset = [as_record(r) for r in records]
    wildcard = name.startswith("*.")
    where = _describe_owner(owner or name.removeprefix("*."), alias)
    critical = [r for r in rrset if r.kind not in KNOWN_TAGS and r.critical]
    if critical:
        return Verdict(False, _critical_reason(name, where, critical, identities))
    relevant = relevant_records(rrset, wildcard=wildcard)
    if not relevant:
        return Verdict(True)
    judgements = [_judge(r, identities, account_uri) for r in relevant]
    authorizing = [j for j in judgements if j.refusal is None]
    if authorizing:
        if any(j.warning is None for j in authorizing):
            return Verdict(True)
        return Verdict(True, warnings=tuple(f"CAA at {where}: {j.warning}" for j in authorizing))
    return Verdict(False, _refusal_reason(name, where, rrset, judgements, identities))


def _judge(record: CaaRecord, identities: Sequence[str], account_uri: str | None) -> _Judgement:
    parsed = parse_issue_value(record.value)
    if not parsed.issuer:
        return _Judgement(record, "forbids every CA")
    if parsed.issuer not in identities:
        near = _near_miss(parsed.issuer, identities)
        if near:
            return _Judgement(
                record,
                f"names {parsed.issuer!r}, but the CA compares issuer domains exactly "
                f"(write {near!r})",
            )
        return _Judgement(record, f"allows only {parsed.issuer}")
    if parsed.error:
        return _Judgement(record, f"is malformed ({parsed.error}), so it authorizes nobody")
    refusal = _methods_refusal(parsed)
    if refusal:
        return _Judgement(record, refusal)
    return _account_judgement(record, parsed, account_uri)


def _near_miss(issuer: str, identities: Sequence[str]) -> str | None:
    folded = issuer.lower().rstrip(".")
    return next((i for i in identities if i == folded), None)


def _methods_refusal(parsed: IssueValue) -> str | None:
    methods = parsed.values_of("validationmethods")
    if not methods:
        return None
    if len(methods) > 1:
        return "has more than one validationmethods parameter, which the CA treats as unsatisfiable"
    labels = methods[0].split(",")
    if not all(_METHOD_LABEL.fullmatch(label) for label in labels):
        return f"has a malformed validationmethods={methods[0]}, which authorizes nobody"
    if VALIDATION_METHOD not in labels:
        return (
            f"allows {parsed.issuer} only with validationmethods={methods[0]}, but wildcert "
            f"validates with {VALIDATION_METHOD} (add {VALIDATION_METHOD} to that list)"
        )
    return None


def _account_judgement(
    record: CaaRecord, parsed: IssueValue, account_uri: str | None
) -> _Judgement:
    uris = parsed.values_of("accounturi")
    if not uris:
        return _Judgement(record)
    if len(uris) > 1:
        return _Judgement(
            record, "has more than one accounturi, which the CA treats as unsatisfiable"
        )
    if account_uri is None:
        return _Judgement(
            record,
            warning=(
                f"{record} limits {parsed.issuer} to account {uris[0]}; wildcert's account URI "
                "is not known yet, so if that is not this deployment's account the CA will refuse"
            ),
        )
    if uris[0] != account_uri:
        return _Judgement(
            record,
            f"allows {parsed.issuer} only for account {uris[0]}, but wildcert uses "
            f"{account_uri} (set accounturi={account_uri} or add a record for it)",
        )
    return _Judgement(record)


def _describe_owner(owner: str, alias: str | None) -> str:
    if alias and alias != owner:
        return f"{owner} (the CNAME target of {alias})"
    return owner


def _critical_reason(
    name: str, where: str, critical: Sequence[CaaRecord], identities: Sequence[str]
) -> str:
    listed = "; ".join(str(r) for r in critical)
    return (
        f"CAA at {where} blocks {identities[0]} from issuing for {name}: the critical "
        f"propert{'ies' if len(critical) > 1 else 'y'} {listed} "
        f"{'are' if len(critical) > 1 else 'is'} unknown to the CA, and an unknown critical "
        "property forbids issuance. Remove it or clear its critical flag (128) "
        f"at {where}."
    )


def _refusal_reason(
    name: str,
    where: str,
    rrset: Sequence[CaaRecord],
    judgements: Sequence[_Judgement],
    identities: Sequence[str],
) -> str:
    wildcard = name.startswith("*.")
    tag = "issuewild" if judgements[0].record.kind == "issuewild" else "issue"
    details = "; ".join(f"{j.record} {j.refusal}" for j in judgements)
    scope = ""
    if wildcard and tag == "issuewild" and any(r.kind == "issue" for r in rrset):
        scope = f" (issuewild records govern {name}; issue records there do not count for it)"
    return (
        f"CAA at {where} does not allow {identities[0]} to issue for {name}{scope}: {details}. "
        f'Add `0 {tag} "{identities[0]}"` at {where.split(" ", 1)[0]}, or change the '
        "records above."
    )
