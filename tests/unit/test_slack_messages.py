import html
import json
import re

from wildcert.adapters import slack


def test_escape_neutralises_mentions_and_links() -> None:
    text = slack.escape("<!channel> <https://evil.example|click> & co")
    assert "<" not in text and ">" not in text
    assert "&lt;!channel&gt;" in text and "&amp; co" in text


def test_escape_truncates() -> None:
    assert len(slack.escape("x" * 10_000, limit=100)) == 100


def test_rejected_message_lists_problems_escaped_and_bounded() -> None:
    problems = [f"problem <{i}>" for i in range(40)]
    payload = slack.rejected("<@U123>", ["a.example.com"], problems).payload()
    body = json.dumps(payload)
    assert "<@U123>" not in body and "&lt;@U123&gt;" in body
    assert "and 25 more problems" in payload["blocks"][0]["text"]["text"]
    assert len(payload["blocks"][0]["text"]["text"]) <= slack.MAX_TEXT


def test_failed_message_names_stage_and_error() -> None:
    text = slack.failed("web", ["*.example.com"], "dns", "Throttling: Rate exceeded").payload()
    body = text["blocks"][0]["text"]["text"]
    assert "*dns*" in body and "Throttling: Rate exceeded" in body and "*.example.com" in body


def test_disabled_notifier_does_not_post() -> None:
    assert slack.SlackNotifier(None).post(slack.failed("a", [], "dns", "x")) is False


def test_post_failure_never_raises_nor_leaks_url() -> None:
    url = "http://127.0.0.1:9/services/SECRET/TOKEN"  # port 9: discard, nothing listens
    notifier = slack.SlackNotifier(url, timeout=1)
    assert notifier.post(slack.failed("a", [], "dns", "x")) is False
    assert notifier._scrub(f"error at {url}") == "error at <webhook>"
    assert notifier._scrub("POST /services/SECRET/TOKEN: 404") == "POST <webhook path>: 404"


# -- hostile input: every user-given string, every field, every message ----------------------

HOSTILE = ("<!channel> @here <@U123> <http://evil.example|click> & http://evil.example/x "
           "www.evil.example evil.example @everyone @Channel <!subteam^S1>")
HOSTILE_DOMAIN = "<!here>.http://x.evil.example@channel"
BROADCAST = re.compile(r"@(here|channel|everyone)\b", re.IGNORECASE)
BARE_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")
BARE_LINK = re.compile(r"://|[\w-]\.[A-Za-z]")  # what Slack's URL detection picks up


def _fields(message: slack.Message) -> dict[str, str]:
    payload = message.payload()
    fields = {"text": payload["text"]}
    for i, block in enumerate(payload["blocks"]):
        assert block["text"]["type"] == "mrkdwn"
        fields[f"block {i}"] = block["text"]["text"]
    return fields


def _readable(field: str) -> str:
    return html.unescape(field.replace(slack.DEFUSE, ""))


def assert_inert(message: slack.Message, *shown: str) -> None:
    """No link, mention or broadcast can come out of any field; what was given still shows."""
    payload = message.payload()
    for block in payload["blocks"]:
        # Slack's documented switch: no URL auto-linking nor mention parsing in this text.
        assert block["text"].get("verbatim") is True, block
    for where, field in _fields(message).items():
        assert "<" not in field and ">" not in field, (where, field)
        assert not BARE_ENTITY.search(field), (where, field)
        assert not BROADCAST.search(field), (where, field)
    assert not BARE_LINK.search(payload["text"]), payload["text"]
    everything = "\n".join(_readable(f) for f in _fields(message).values())
    for value in shown:
        assert value in everything, (value, everything)


def test_issued_is_inert() -> None:
    message = slack.issued(HOSTILE, [HOSTILE_DOMAIN], HOSTILE, HOSTILE, HOSTILE)
    assert_inert(message, HOSTILE, HOSTILE_DOMAIN)
    assert_inert(slack.issued(HOSTILE, [], "x", "y", "z", renewal=True), HOSTILE)


def test_failed_is_inert_with_a_raw_name_in_the_fallback() -> None:
    """An early failure names the request by its raw, unvalidated name: in `text` too."""
    message = slack.failed(HOSTILE, [HOSTILE_DOMAIN], HOSTILE, HOSTILE)
    assert_inert(message, HOSTILE, HOSTILE_DOMAIN)
    assert "evil" in message.payload()["text"]  # named, not dropped


def test_rejected_is_inert() -> None:
    assert_inert(slack.rejected(HOSTILE, [HOSTILE_DOMAIN, HOSTILE], [HOSTILE, HOSTILE_DOMAIN]),
                 HOSTILE, HOSTILE_DOMAIN)
    assert_inert(slack.rejected(None, [], [HOSTILE]), HOSTILE)


def test_sweep_summary_is_inert() -> None:
    message = slack.sweep_summary(
        checked=3, due=[HOSTILE], forced=[HOSTILE_DOMAIN], queued=1,
        failed=[(HOSTILE, HOSTILE)], broken=[(HOSTILE_DOMAIN, HOSTILE)],
        unmanaged=[HOSTILE], unmatched=[HOSTILE_DOMAIN], ari_problems=[(HOSTILE, HOSTILE)],
    )
    assert_inert(message, HOSTILE, HOSTILE_DOMAIN)


def test_watch_findings_is_inert() -> None:
    message = slack.watch_findings(checked=2, findings=[(HOSTILE, HOSTILE)],
                                   queued=[HOSTILE_DOMAIN], failed=[(HOSTILE, HOSTILE_DOMAIN)])
    assert_inert(message, HOSTILE, HOSTILE_DOMAIN)


def test_event_rejected_is_inert() -> None:
    assert_inert(slack.event_rejected(HOSTILE, [HOSTILE, HOSTILE_DOMAIN]), HOSTILE_DOMAIN)
    assert_inert(slack.event_rejected("sweep", [HOSTILE]), HOSTILE)


def test_plain_names_stay_readable_and_copyable_in_blocks() -> None:
    """Defusing is for what Slack would parse: a domain in the blocks is exactly the domain."""
    body = _fields(slack.issued("web", ["*.example.com"], "2030-01-01", "s3://b/web/", "0a"))
    assert "*.example.com" in body["block 0"] and "s3://b/web/" in body["block 0"]
    assert slack.DEFUSE not in body["block 0"]


class Recorder(slack.SlackNotifier):
    """A notifier that keeps what it is given instead of posting it."""

    def __init__(self, url: str | None) -> None:
        super().__init__(url)
        self.posted: list[slack.Message] = []

    def send(self, message: slack.Message) -> str:
        self.posted.append(message)
        return slack.POSTED


def test_a_teams_message_goes_to_its_channel_and_the_operators() -> None:
    operators = Recorder("https://hooks.slack.com/services/OPS")
    made: dict[str, Recorder] = {}
    asked: list[str] = []

    def webhook(team: str) -> str | None:
        asked.append(team)
        return {"alpha": "https://hooks.slack.com/services/ALPHA",
                "same": "https://hooks.slack.com/services/OPS"}.get(team)

    def notifier(url: str) -> Recorder:
        made[url] = Recorder(url)
        return made[url]

    channels = slack.Channels(operators, webhook, notifier=notifier)
    message = slack.issued("alpha.web", ["web.alpha.example.com"], "2027", "s3://b/alpha.web/",
                           "ab", team="alpha")
    channels.post(message, "alpha")
    channels.post(message, "alpha")
    assert made["https://hooks.slack.com/services/ALPHA"].posted == [message, message]
    assert operators.posted == [message, message]
    assert asked == ["alpha"]  # the secret is read once
    # No webhook of its own, or the operators' own: the operators' channel, once.
    for team in ("beta", "same", None):
        operators.posted.clear()
        channels.post(message, team)
        assert operators.posted == [message]
    assert set(made) == {"https://hooks.slack.com/services/ALPHA"}


class Dead(Recorder):
    def send(self, message: slack.Message) -> str:
        return slack.NOT_REACHED + "HTTP 404 no_service"


def test_a_team_channel_not_reached_is_said_in_the_operators_post() -> None:
    operators = Recorder("https://hooks.slack.com/services/OPS")

    def webhook(team: str) -> str | None:
        if team == "misnamed":
            raise slack.Unreachable("secret wildcert/slack/misnamd cannot be read "
                                    "(ResourceNotFoundException)")
        return {"dead": "https://hooks.slack.com/services/DEAD",
                "alpha": "https://hooks.slack.com/services/ALPHA"}.get(team)

    channels = slack.Channels(operators, webhook,
                              notifier=lambda url: Dead(url) if "DEAD" in url else Recorder(url))
    message = slack.issued("x.web", ["web.example.com"], "2027", "s3://b/x.web/", "ab")
    misnamed = channels.post(message, "misnamed")
    assert misnamed.team_channel is not None and misnamed.team_channel.startswith("not reached")
    assert "ResourceNotFoundException" in misnamed.team_channel
    (told,) = operators.posted
    assert told.lines[:-1] == message.lines
    assert "misnamed" in told.lines[-1] and "wildcert/slack/misnamd" in told.lines[-1]
    dead = channels.post(message, "dead")
    assert dead.as_json() == {"team_channel": "not reached: HTTP 404 no_service",
                              "operators_channel": "posted"}
    assert "HTTP 404" in operators.posted[-1].lines[-1]
    # Heard, or no channel of its own, or no team at all: the post is the message as it is.
    assert channels.post(message, "alpha").team_channel == "posted"
    assert channels.post(message, "beta").team_channel == "no channel of its own"
    assert channels.post(message).as_json() == {"team_channel": None,
                                                 "operators_channel": "posted"}
    assert operators.posted[-3:] == [message] * 3
    # A refusal the operators would only see summarised (or not at all) is still shown to
    # them whole when the team's own channel did not get it.
    held = channels.post_summarised(message, "misnamed", None)
    assert held.team_channel is not None and held.team_channel.startswith("not reached")
    assert held.operators_channel == "posted" and "misnamed" in operators.posted[-1].lines[-1]
    assert channels.post_summarised(message, "alpha", None).operators_channel != "posted"


def test_team_messages_name_the_team_inertly() -> None:
    issued = slack.issued("alpha.web", ["a.example.com"], "2027", "s3://b/", "ab",
                          team="<!here>").payload()
    body = json.dumps(issued)
    assert "<!here>" not in body and "&lt;!here&gt;" in body
    rejected = slack.rejected("beta.x", [], ["no (rule: suffix-not-allowed)"], team="beta",
                              requester="eventbridge source wildcert.team.beta")
    lines = rejected.payload()["blocks"][0]["text"]["text"]
    assert "Team: *beta*" in lines and "Requested by: eventbridge" in lines
    assert "(team beta)" in rejected.text
    assert "Team:" not in slack.failed("web", [], "dns", "x").payload()["blocks"][0]["text"][
        "text"]


def test_settling_waits_for_a_webhook_still_being_read() -> None:
    """The webhook is read in the background; an invocation that posted nothing waits for
    that read before it returns, so nothing is left running when Lambda freezes it."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    release = threading.Event()

    def slow_read() -> str:
        release.wait(5)
        return "https://hooks.slack.com/services/T0/B0/x"

    with ThreadPoolExecutor(max_workers=1) as pool:
        reading = pool.submit(slow_read)
        notifier = slack.SlackNotifier(reading.result)
        threading.Timer(0.2, release.set).start()
        assert not reading.done()
        notifier.settle()
        assert reading.done() and notifier.enabled
