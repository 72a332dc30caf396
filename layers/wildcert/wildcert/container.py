"""The warm container's state: one object, made at INIT, holding everything a Lambda container
keeps from one invocation to the next, and how long each piece is kept.

    piece               field         kept                              because
    ------------------  ------------  --------------------------------  ---------------------------
    AWS session         aws_session   for the container's life          endpoint data and service
                                                                        models load once
    AWS clients         clients       for the container's life          thread-safe, one a service
    assumed roles'      assumed       until CREDENTIALS_MARGIN_SECONDS  a zone in another account is
      clients                         before their credentials expire   written through its role
                                      (adapters/aws.py)
    hosted zones        zones         for the container's life          zone names never change;
                                                                        Route 53's request limit is
                                                                        the whole account's
    secrets             secrets       SECRET_MAX_AGE_SECONDS (5 min)    a rotated webhook is
                                      each (runtime.py)                 picked up
    teams policy        teams         until the file changes (mtime)    a changed file is read again
    policy problems     told          for the container's life          a broken teams.toml is told
      told                                                              once, not on every request
    ACME directories    directories   DIRECTORY_TTL_SECONDS (1 h) each  the CA's URLs and profiles
                                      (adapters/acme.py)                rarely change
    bucket probe        probed        PROBE_TTL_SECONDS (1 h) each      bucket policy and key grants
                                      (adapters/bucket/certificates)    do not change between runs
    queues' receives    max_receives  for the container's life          a queue's redrive policy is
                                                                        set with the stack
    background reads    reader        for the container's life          the Slack webhook is read
                                                                        while a request starts
    teams' refusals     refusals      for the container's life          the operators see a team's
      told                            (hour by hour: logic/refusals)    first refusal each hour

Nothing else is kept at module level. A test starts from a new container (`start_afresh`,
the `fresh_container` fixture) instead of reaching into a module's globals; `make bench` counts
what a run sent where it arrives, at the local stack's servers.

How the entry points reach the outside world is the container's too: `outside` is None in a
function (AWS, the CA, DNS and Slack through the adapters), or an `Outside` a test gives
`start_afresh` to run the real handlers on in-process fakes (tests/unit/test_sample_events.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.session import Session

from wildcert.logic.refusals import RefusalTally
from wildcert.logic.teams import Teams
from wildcert.logic.zones import HostedZone


def _reader() -> ThreadPoolExecutor:
    # No thread starts before the first read is asked for.
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="wildcert-read")


@dataclass(frozen=True)
class Outside:
    """What the entry points are given instead of the real outside systems (tests only).

    Typed loosely: the adapters and jobs import this module, not the other way round.
    """

    # (settings, deadline, teams) -> jobs.issue.wiring.Services: the issuer's systems
    services: Callable[..., Any]
    # (settings, context) -> the parts jobs.over_inventory.OverInventory is made of
    renewal_parts: Callable[..., dict[str, Any]]
    # (webhook secret id or webhook URL) -> adapters.slack.SlackNotifier
    slack: Callable[[str], Any]


@dataclass
class Container:
    """Every cache of one warm container (the table above)."""

    aws_session: Session | None = None
    clients: dict[str, Any] = field(default_factory=dict)
    # (service, role, external id, session name) -> (client, credentials' expiry, epoch s)
    assumed: dict[tuple[str, str, str, str], tuple[Any, float]] = field(default_factory=dict)
    zones: dict[tuple[str, ...], list[HostedZone]] = field(default_factory=dict)
    secrets: dict[str, tuple[str | bytes, float]] = field(default_factory=dict)
    teams: dict[tuple[str, int], Teams] = field(default_factory=dict)
    told: set[tuple[str, ...]] = field(default_factory=set)
    directories: dict[str, tuple[Any, float]] = field(default_factory=dict)  # acme Directory
    probed: dict[tuple[str, str], float] = field(default_factory=dict)
    max_receives: dict[str, int | None] = field(default_factory=dict)
    reader: ThreadPoolExecutor = field(default_factory=_reader)
    refusals: RefusalTally = field(default_factory=RefusalTally)
    # Making the session and the clients is not thread-safe: the Slack secret's reader and an
    # issuance's set-up may ask for their first client at the same time. Reentrant: a client's
    # maker asks for the session while holding it.
    lock: threading.RLock = field(default_factory=threading.RLock)
    outside: Outside | None = None  # None: the real systems (see the module's docstring)


_current = Container()


def current() -> Container:
    """The container's state, made when this module was first imported (at INIT)."""
    return _current


def start_afresh(outside: Outside | None = None) -> Container:
    """Replace the state with an empty one, as a new container would start: every cache empty,
    talking to `outside` (None: the real systems). For tests; a running function never needs
    it."""
    global _current
    previous, _current = _current, Container(outside=outside)
    previous.reader.shutdown(wait=False)
    return _current
