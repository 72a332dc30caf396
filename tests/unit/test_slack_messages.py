import json

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
