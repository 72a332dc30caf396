"""The reload command: no shell, no stdin, bounded in time, its last line in our message."""

from __future__ import annotations

import shlex
import subprocess

from wildcert_pull.errors import Exit, PullError

RELOAD_TIMEOUT_SECONDS = 300


def run_reload(command: tuple[str, ...]) -> None:
    shown = shlex.join(command)
    after = (
        "the new files are installed and valid, but the service may still use the old ones — "
        "fix it and rerun wildcert-pull, which retries the reload"
    )
    try:
        done = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False,
            timeout=RELOAD_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired as exc:
        raise PullError(
            f"the reload command {shown!r} ran longer than {RELOAD_TIMEOUT_SECONDS}s: {after}",
            Exit.RELOAD,
        ) from exc
    except OSError as exc:
        raise PullError(f"the reload command {shown!r} could not start ({exc}): {after}",
                        Exit.RELOAD) from exc
    if done.returncode != 0:
        said = _last_line(done.stderr) or _last_line(done.stdout)
        raise PullError(
            f"the reload command {shown!r} exited with {done.returncode}"
            f"{f' ({said})' if said else ''}: {after}",
            Exit.RELOAD,
        )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
