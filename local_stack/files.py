"""The files a local stack keeps in its directory."""

from __future__ import annotations

from pathlib import Path


def ready(directory: Path) -> Path:
    return directory / "ready"


def pid(directory: Path) -> Path:
    return directory / "serve.pid"


def serve_log(directory: Path) -> Path:
    return directory / "serve.log"


def pebble_log(directory: Path, name: str = "pebble") -> Path:
    return directory / f"{name}.log"


def slack_log(directory: Path) -> Path:
    return directory / "slack.jsonl"


def env_sh(directory: Path) -> Path:
    return directory / "env"


def env_json(directory: Path) -> Path:
    return directory / "env.json"


def teams(directory: Path) -> Path:
    return directory / "teams.toml"


def outcomes(directory: Path) -> Path:
    """Every outcome event the invoke tool received, one JSON a line."""
    return directory / "outcomes.jsonl"


def second_ca_eab(directory: Path) -> Path:
    """The second CA's External Account Binding: {"kid": ..., "hmac_key": ...} (0600)."""
    return directory / "second-ca-eab.json"


def tls_ca(directory: Path) -> Path:
    return directory / "pebble-tls" / "ca.pem"


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} is missing)"
