"""``simulate``: run the Drift API simulator in the foreground.

The click command object is meant to be attached to the main ``driftsync`` group; it also runs
on its own via ``python -m driftsync.simulator``.
"""

from __future__ import annotations

import gc
import signal
import sys
import threading
from typing import Any

import click

from .config import SimulatorConfig
from .server import DriftSimulator


def _ids(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> list[int]:
    out: list[int] = []
    for value in values:
        for part in value.replace(",", " ").split():
            try:
                out.append(int(part))
            except ValueError:
                raise click.BadParameter(f"not a conversation id: {part!r}") from None
    return out


def _scopes(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> set[str]:
    out: set[str] = set()
    for value in values:
        out.update(s for s in value.replace(",", " ").split() if s)
    return out


@click.command("simulate")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port (0 = any free port).")
@click.option("--seed", default=1, show_default=True, type=int, help="Dataset seed.")
@click.option("--accounts", default=500, show_default=True, type=click.IntRange(min=0))
@click.option("--conversations", default=2000, show_default=True, type=click.IntRange(min=0))
@click.option("--users", default=25, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--meetings",
    default=None,
    type=click.IntRange(min=0),
    help="Booked meetings, over now-40d..now+20d  [default: conversations / 2]",
)
@click.option(
    "--now-ms",
    default=None,
    type=int,
    help="The simulated 'now' in epoch ms (meetings, 30-day floor, mutation clock) "
    "[default: 2027-01-01T00:00:00Z]",
)
@click.option(
    "--samples/--no-samples",
    "include_samples",
    default=True,
    show_default=True,
    help="Include Drift's documented sample records (they count toward the sizes).",
)
@click.option(
    "--token", default="drift-demo-token", show_default=True, help="The only accepted bearer token."
)
@click.option(
    "--pagination",
    type=click.Choice(["links", "cursor"]),
    default="links",
    show_default=True,
    help="links = page_token + links.next (limit<=100); cursor = next + pagination.next (limit<=50).",
)
@click.option(
    "--accounts-max-size",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="Largest honoured GET /accounts size.",
)
@click.option(
    "--fault-429-every",
    default=0,
    type=click.IntRange(min=0),
    help="Every Nth API request gets 429.",
)
@click.option(
    "--retry-after",
    default=None,
    type=float,
    help="Retry-After seconds on 429s (omit = no header).",
)
@click.option(
    "--rate-limit",
    "rate_limit_per_minute",
    default=0.0,
    type=click.FloatRange(min=0),
    help="Leaky-bucket rate limit: requests per minute drained (0 = off); overflow gets 429.",
)
@click.option(
    "--rate-burst",
    "rate_limit_burst",
    default=10,
    show_default=True,
    type=click.IntRange(min=1),
    help="Leaky-bucket capacity: requests allowed back to back.",
)
@click.option(
    "--fault-5xx-every",
    default=0,
    type=click.IntRange(min=0),
    help="Every Nth API request fails with --fault-5xx-status.",
)
@click.option("--fault-5xx-status", default=503, show_default=True, type=click.IntRange(500, 599))
@click.option(
    "--drop-connection-every",
    default=0,
    type=click.IntRange(min=0),
    help="Every Nth API request: close the socket without a response.",
)
@click.option(
    "--slow-ms", default=0, type=click.IntRange(min=0), help="Delay every API response (ms)."
)
@click.option(
    "--revoke-after",
    default=0,
    type=click.IntRange(min=0),
    help="Revoke the token after N successful API requests.",
)
@click.option(
    "--missing-scopes",
    multiple=True,
    callback=_scopes,
    metavar="SCOPES",
    help="Scopes the token lacks (comma/space separated, repeatable).",
)
@click.option("--foreign-next-host", default=None, help="Point links.next to this host.")
@click.option(
    "--repeat-cursor-after",
    default=0,
    type=click.IntRange(min=0),
    help="After N conversation pages, repeat the previous next link/cursor.",
)
@click.option("--client-id", default=None, help="OAuth client id (omit = no /oauth2/token).")
@click.option("--client-secret", default=None, help="OAuth client secret.")
@click.option("--refresh-token", default=None, help="Refresh token valid at start (rotated).")
@click.option(
    "--token-expires-after-requests",
    default=0,
    type=click.IntRange(min=0),
    help="An access token expires after authenticating N API requests.",
)
@click.option(
    "--token-expires-after-seconds",
    default=0.0,
    type=click.FloatRange(min=0),
    help="An access token expires S seconds after its issue.",
)
@click.option(
    "--mutate-after-list-pages",
    default=0,
    type=click.IntRange(min=0),
    help="Right after the Nth conversations list page, update the conversations below.",
)
@click.option(
    "--mutate-conversation-ids",
    multiple=True,
    callback=_ids,
    metavar="IDS",
    help="Conversations the hook updates (comma/space separated, repeatable).",
)
@click.option(
    "--mutate-conversation-fraction",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="... and/or this fraction of all conversations (deterministic sample).",
)
def simulate(**options: Any) -> None:
    """Serve an offline Drift API simulator until Ctrl-C / SIGTERM.

    \b
    API (bearer token; each endpoint answers 403 when its scope is missing):
      GET /conversations/list, /conversations/{id}, /conversations/{id}/messages
      GET /contacts/{id}, /contacts/attributes, /accounts, /users/list, /teams/org
      GET /users/meetings/org?min_start_time=&max_start_time=  (<= 1000, 30-day floor)
      GET /playbooks/list, /playbooks/clp  (bare JSON arrays)
      POST /app/token_info, POST /oauth2/token (with --client-id)
    Admin (no auth): GET /_simulator/stats, POST /_simulator/reset,
    GET /_simulator/tokens, POST /_simulator/mutate.

    The data is deterministic for a seed and sizes.
    """
    try:
        config = SimulatorConfig(**options)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    sim = DriftSimulator(config)
    # This process is the simulator's own: keep the (acyclic, long-lived) dataset out of every
    # future GC pass, or a full collection of a 100k-conversation dataset stalls a request or
    # a mutation for ~0.5 s now and then.
    gc.freeze()
    try:
        sim.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {config.host}:{config.port}: {exc}") from exc

    stop = threading.Event()
    previous = {}

    def _on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, _on_signal)
        except (ValueError, OSError):  # not in the main thread (e.g. click's test runner)
            pass

    click.echo(f"Drift simulator listening on {sim.url} (token: {config.token})")
    if config.client_id is not None:
        click.echo(f"OAuth: POST {sim.url}/oauth2/token (client_id: {config.client_id})")
    sys.stdout.flush()
    try:
        while not stop.is_set():
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        click.echo("Drift simulator stopped", err=True)
