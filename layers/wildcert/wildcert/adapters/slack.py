"""Slack incoming-webhook notifications.

The webhook URL is a secret (anyone holding it can post to the channel): it is read from
Secrets Manager at run time and never logged, returned or put into an exception text.
A Slack outage must never fail an issuance, so `post` only ever returns False.

Names, domains, problems and errors come from requests and the bucket, so every one of them
is made inert before it goes into a message (Slack's rules: &, < and > are its control
characters; its server links bare URLs and domains and parses mentions unless a text object
says `verbatim`):
- blocks: `escape` (the three characters as entities, broadcast words defused) inside a
  mrkdwn text object marked `verbatim`, so domains and locations stay exact for copying;
- the fallback `text` (notifications, clients without blocks) has no `verbatim`: `plain`
  also defuses everything a URL or mention could be made of.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.webhook import WebhookClient

from wildcert.errors import WildcertError

logger = logging.getLogger("wildcert.adapters.slack")

MAX_TEXT = 2800  # Slack section blocks take 3000 characters
# ZERO WIDTH SPACE: invisible, and neither a URL nor a mention is parsed across it.
DEFUSE = "\u200b"
_BROADCAST = re.compile(r"@(?=(?:here|channel|everyone)\b)", re.IGNORECASE)
# Where a bare URL, domain or mention holds together (an '@' escape defused already excepted).
_LINK_JOINTS = re.compile(r"\.|@(?!\u200b)|:(?=//)")


def escape(text: object, limit: int = 500) -> str:
    """User-supplied text for mrkdwn blocks: no control sequence, no broadcast.

    Slack's control sequences (<!channel>, <url|text>, <@user>) all start with '<'; a plain
    @here or @channel becomes one when Slack parses mentions, so its '@' is defused too.
    """
    value = str(text)
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub("@" + DEFUSE, value)


def plain(text: object, limit: int = 200) -> str:
    """User-supplied text for the fallback `text`, which has no `verbatim` switch: `escape`,
    and every '.', '@' and '://' defused, so no URL, domain or mention can form."""
    return _LINK_JOINTS.sub(lambda m: m.group() + DEFUSE, escape(text, limit))


def code_list(items: Sequence[str], limit: int = 20) -> str:
    shown = ", ".join(escape(i, 260) for i in items[:limit])
    if len(items) > limit:
        shown += f" and {len(items) - limit} more"
    return shown


@dataclass(frozen=True)
class Message:
    text: str  # fallback for notifications, user strings through `plain`
    lines: tuple[str, ...]  # mrkdwn, user strings through `escape`

    def payload(self) -> dict[str, Any]:
        body = "\n".join(self.lines)
        if len(body) > MAX_TEXT:
            body = body[: MAX_TEXT - 1] + "…"
        return {
            "text": self.text,
            "blocks": [{"type": "section",
                        "text": {"type": "mrkdwn", "text": body, "verbatim": True}}],
        }


POSTED = "posted"
OFF = "off"  # no webhook configured: Slack is off
NO_CHANNEL = "no channel of its own"  # the operators' post is the team's news
NOT_REACHED = "not reached: "
HELD_BACK = "held back: the team's refusals are summarised"  # the operators' channel skipped


class SlackNotifier:
    def __init__(self, webhook_url: str | Callable[[], str | None] | None, *,
                 timeout: int = 10):
        # A function: the URL is still being read (see runtime.notifier); asked on first use.
        self._webhook = webhook_url
        self._timeout = timeout

    @property
    def _url(self) -> str | None:
        if callable(self._webhook):
            self._webhook = self._webhook()
        return self._webhook

    @property
    def enabled(self) -> bool:
        return bool(self._url)

    def settle(self) -> None:
        """Wait for a webhook URL still being read: no read outlives the invocation that
        started it (Lambda freezes whatever is still running when the handler returns)."""
        self.enabled  # noqa: B018 - reading the URL is the point

    def posts_to(self, url: str) -> bool:
        return self._url == url

    def post(self, message: Message) -> bool:
        return self.send(message) == POSTED

    def send(self, message: Message) -> str:
        """Post `message`: POSTED, OFF (no webhook), or "not reached: <why>" (never the URL)."""
        if not self._url:
            logger.info("slack disabled: %s", message.text)
            return OFF
        client = WebhookClient(
            self._url,
            timeout=self._timeout,
            retry_handlers=[
                ConnectionErrorRetryHandler(max_retry_count=2),
                RateLimitErrorRetryHandler(max_retry_count=2),
            ],
        )
        try:
            response = client.send_dict(message.payload())
        except Exception as exc:  # any failure of Slack is logged, never raised
            problem = self._scrub(f"{type(exc).__name__}: {exc}")
        else:
            if response.status_code == 200:
                return POSTED
            problem = self._scrub(f"HTTP {response.status_code} {str(response.body)[:200]}")
        logger.warning("slack post failed: %s", problem)
        return NOT_REACHED + problem

    def _scrub(self, text: str) -> str:
        """Take the webhook URL, and its path (the token) alone, out of a text to log."""
        if not self._url:
            return text
        text = text.replace(self._url, "<webhook>")
        path = urlsplit(self._url).path
        return text.replace(path, "<webhook path>") if len(path) > 1 else text


class Unreachable(WildcertError):
    """A channel that cannot be posted to, and why; the text never holds the webhook URL."""


@dataclass(frozen=True)
class Delivery:
    """What became of one message: the team's channel (None: no team to tell) and the
    operators'. Each is POSTED, OFF, NO_CHANNEL or "not reached: <why>"."""

    team_channel: str | None
    operators_channel: str

    def as_json(self) -> dict[str, str | None]:
        return {"team_channel": self.team_channel, "operators_channel": self.operators_channel}


class Channels:
    """Where a message goes: the operators' channel always, and the team's own when it has one.

    A team without a webhook (or whose webhook is the operators') gets its news in the
    operators' channel: one post, never two. Team webhooks are looked up on first use; one
    that cannot be read or posted to is said in the operators' post, so it never fails
    silently.
    """

    def __init__(self, operators: SlackNotifier,
                 team_webhook: Callable[[str], str | None] = lambda team: None, *,
                 notifier: Callable[[str], SlackNotifier] = SlackNotifier):
        self.operators = operators
        self._team_webhook = team_webhook  # may raise Unreachable
        self._notifier = notifier
        self._teams: dict[str, SlackNotifier | str] = {}

    def post_summarised(self, message: Message, team: str,
                        summary: Message | None) -> Delivery:
        """`message` to the team's own channel; the operators get `summary` (None: nothing),
        or, when the team's channel was not reached, the message itself saying so."""
        said = self._post_to_team(message, team)
        if said.startswith(NOT_REACHED):
            return Delivery(said, self.operators.send(_unreached(message, team, said)))
        if summary is None:
            return Delivery(said, HELD_BACK)
        return Delivery(said, self.operators.send(summary))

    def post(self, message: Message, team: str | None = None) -> Delivery:
        said = self._post_to_team(message, team) if team else None
        if team and said is not None and said.startswith(NOT_REACHED):
            message = _unreached(message, team, said)
        return Delivery(said, self.operators.send(message))

    def _post_to_team(self, message: Message, team: str) -> str:
        own = self._team(team)
        return own.send(message) if isinstance(own, SlackNotifier) else own

    def _team(self, team: str) -> SlackNotifier | str:
        """The team's notifier, or what stands in for one: NO_CHANNEL, or why it is
        unreachable."""
        if team not in self._teams:
            try:
                url = self._team_webhook(team)
            except Unreachable as problem:
                self._teams[team] = NOT_REACHED + str(problem)
            else:
                same = url is not None and self.operators.posts_to(url)
                self._teams[team] = (self._notifier(url) if url and not same
                                     else NO_CHANNEL)
        return self._teams[team]


def _unreached(message: Message, team: str, said: str) -> Message:
    """`message` for the operators, ending with why the team's own channel did not get it."""
    return Message(message.text, (
        *message.lines,
        f":warning: Team *{escape(team, 40)}*'s own Slack channel was not reached "
        f"({escape(said.removeprefix(NOT_REACHED), 400)}): only this channel heard. "
        f"Check slack_webhook_secret of [teams.{escape(team, 40)}] in teams.toml."))


def _team_line(team: str | None) -> tuple[str, ...]:
    return (f"Team: *{escape(team, 40)}*",) if team else ()


def _for_team(team: str | None) -> str:
    return f" (team {plain(team, 40)})" if team else ""


def issued(
    name: str, domains: Sequence[str], not_after: str, location: str, serial: str, *,
    renewal: bool = False, team: str | None = None, ca: str | None = None,
    acm: Mapping[str, str] | None = None, acm_problems: Sequence[str] = (),
) -> Message:
    verb = "renewed" if renewal else "issued"
    return Message(
        text=f"wildcert {verb} {plain(name)}{_for_team(team)}",
        lines=(
            f":white_check_mark: Certificate *{escape(name)}* {verb}",
            *_team_line(team),
            f"Domains: {code_list(domains)}",
            f"Expires: {escape(not_after)}",
            f"Stored at: {escape(location)}",
            f"Serial: {escape(serial)}",
            *((f"CA: {escape(ca)}",) if ca else ()),
            *(f"ACM {escape(region)}: {escape(arn)}" for region, arn in (acm or {}).items()),
            *(f":warning: {escape(problem, 600)}" for problem in acm_problems),
        ),
    )


def failed(name: str, domains: Sequence[str], stage: str, error: str, *,
           team: str | None = None) -> Message:
    return Message(
        text=f"wildcert failed to issue {plain(name)} at stage {plain(stage, 60)}"
             f"{_for_team(team)}",
        lines=(
            f":x: Certificate *{escape(name)}* failed at stage *{escape(stage)}*",
            *_team_line(team),
            f"Domains: {code_list(domains)}",
            f"Error: {escape(error, 1500)}",
        ),
    )


def rejected(name: str | None, domains: Sequence[str], problems: Sequence[str], *,
             team: str | None = None, requester: str | None = None) -> Message:
    shown = [f"• {escape(p, 300)}" for p in problems[:15]]
    if len(problems) > 15:
        shown.append(f"• and {len(problems) - 15} more problems")
    return Message(
        text=f"wildcert rejected a certificate request{_for_team(team)}",
        lines=(
            f":no_entry: Request for *{escape(name or 'unnamed')}* rejected",
            *_team_line(team),
            *((f"Requested by: {escape(requester, 300)}",) if requester else ()),
            f"Domains: {code_list(domains)}" if domains else "Domains: none given",
            *shown,
        ),
    )


def revoked(reason: str, lines: Sequence[str], *, team: str | None = None,
            failed: int = 0) -> Message:
    """One summary of a revoke-and-rekey request: each certificate, revoked and replaced."""
    mark = ":rotating_light:" if failed else ":recycle:"
    return Message(
        text=f"wildcert revoked {len(lines)} certificate(s) ({plain(reason, 60)}){_for_team(team)}",
        lines=(
            f"{mark} Revoked {len(lines)} certificate(s), reason *{escape(reason, 60)}*"
            + (f"; {failed} not replaced" if failed else ""),
            *_team_line(team),
            *_bullets(list(lines), 20),
            "Servers install the replacements at their next wildcert-pull run.",
        ),
    )


def with_summary(message: Message, team: str, held_back: int) -> Message:
    """A team's refusal as the operators see it: the first of the hour, and how many earlier
    ones they were spared (the team's channel and the outcome events had each)."""
    lines = [f"_Only team {escape(team, 40)}'s first refusal each hour is posted here; each "
             "goes to its own channel (if it has one) and to the bus as an outcome event._"]
    if held_back:
        lines.insert(0, f":information_source: {held_back} more refusal(s) of team "
                        f"{escape(team, 40)} since the last one posted here.")
    return Message(message.text, (*message.lines, *lines))


def _bullets(items: Sequence[str], limit: int) -> list[str]:
    shown = [f"• {item}" for item in items[:limit]]
    if len(items) > limit:
        shown.append(f"• and {len(items) - limit} more")
    return shown


def sweep_summary(
    *, checked: int, due: Sequence[str], forced: Sequence[str], queued: int,
    failed: Sequence[tuple[str, str]], broken: Sequence[tuple[str, str]],
    unmanaged: Sequence[str] = (), unmatched: Sequence[str] = (),
    ari_problems: Sequence[tuple[str, str]] = (), dry_run: bool = False,
) -> Message:
    """One message per sweep: the counts, then every failure and broken entry by name."""
    trouble = bool(failed or broken or unmatched)
    icon = ":warning:" if trouble else ":recycle:"
    sent = f"would queue {len(due) + len(forced)}" if dry_run else f"queued {queued}"
    lines = [
        f"{icon} Renewal sweep{' (dry run)' if dry_run else ''}: {checked} certificates checked, "
        f"{len(due)} due, {len(forced)} forced, {sent}, {len(failed)} failed, "
        f"{len(broken)} broken",
    ]
    if due:
        lines.append(f"Due: {code_list(due)}")
    if forced:
        lines.append(f"Forced: {code_list(forced)}")
    if failed:
        lines.append("*Not queued* (retry the sweep or queue them by hand):")
        lines.extend(_bullets([f"*{escape(n, 130)}*: {escape(e, 200)}" for n, e in failed], 15))
    if broken:
        lines.append("*Broken inventory entries* (not renewed until fixed or re-issued):")
        lines.extend(_bullets([f"*{escape(n, 130)}*: {escape(p, 200)}" for n, p in broken], 10))
    if unmatched:
        lines.append(f"*Force matched nothing*: {code_list(unmatched)}")
    if unmanaged:
        lines.append(f"Prefixes without cert.json (ignored): {code_list(unmanaged, 10)}")
    if ari_problems:
        lines.append(f"Renewal windows not refreshed ({len(ari_problems)}), threshold used: "
                     f"{code_list([n for n, _ in ari_problems], 10)}")
    text = (f"wildcert sweep: {checked} checked, {len(due) + len(forced)} to renew, "
            f"{len(failed)} failed, {len(broken)} broken")
    return Message(text=text, lines=tuple(lines))


def watch_findings(
    *, checked: int, findings: Sequence[tuple[str, str]], queued: Sequence[str] = (),
    failed: Sequence[tuple[str, str]] = (),
) -> Message:
    """The watch's one message: every finding by certificate name, then what it queued."""
    lines = [f":rotating_light: Certificate watch: {len(findings)} finding"
             f"{'' if len(findings) == 1 else 's'} across {checked} certificates"]
    lines.extend(_bullets([f"*{escape(n, 130)}*: {escape(t, 300)}" for n, t in findings], 25))
    if queued:
        lines.append(f"Queued for renewal: {code_list(queued)}")
    if failed:
        lines.append("*Could not queue*:")
        lines.extend(_bullets([f"*{escape(n, 130)}*: {escape(e, 200)}" for n, e in failed], 10))
    text = f"wildcert watch: {len(findings)} findings, {len(failed)} renewals not queued"
    return Message(text=text, lines=tuple(lines))


def event_rejected(job: str, problems: Sequence[str]) -> Message:
    """A sweep or watch event that was refused: nothing was checked or queued."""
    return Message(
        text=f"wildcert {plain(job, 60)}: event rejected, nothing done",
        lines=(f":no_entry: {escape(job, 60).capitalize()} event rejected; nothing was checked "
               "or queued", *_bullets([escape(p, 300) for p in problems], 15)),
    )


def policy_broken(where: str, problems: Sequence[str]) -> Message:
    """The operators' one post per container while teams.toml has problems."""
    return Message(
        text=f"wildcert: the teams policy {plain(where, 200)} has {len(problems)} problem(s); "
             "team requests are refused until it is fixed",
        lines=(f":rotating_light: The teams policy *{escape(where, 200)}* has {len(problems)} "
               "problem(s). Every team request is refused until it is fixed and deployed; "
               "renewals and direct invokes go on.",
               *_bullets([escape(p, 300) for p in problems], 15)),
    )
