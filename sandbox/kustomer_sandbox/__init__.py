"""A local emulator of the Kustomer v1 REST API ("the sandbox") for tests and benchmarks.

Standard library only; serves real HTTP on loopback.  Programmatic use::

    from kustomer_sandbox import Sandbox

    with Sandbox(seed=1, scale=0.2) as sb:          # port 0 = a free port
        base_url = sb.base_url                     # "http://127.0.0.1:<port>"
        truth = sb.truth("customers")              # {"streams": {"customers": [...]}, ...}
        sb.update_random("customers", 25)          # -> ids moved to "now"
        sb.set_faults(force=["500", "drop"])       # next two /v1 requests fail

Command line: ``kustomer-sandbox --help`` (see :mod:`kustomer_sandbox.cli`).
"""

from __future__ import annotations

import threading
from dataclasses import fields
from typing import Any

from .server import App, Options, Server

__all__ = ["Options", "Sandbox", "main"]


class Sandbox:
    """Run the sandbox in a background thread.

    Keyword options are the CLI options with Python names (``org_limit``, ``search_limit``,
    ``window_seconds``, ``fault_rate`` ...; see :class:`Options`).  Unlike the CLI, ``port``
    defaults to 0 (pick a free port).
    """

    def __init__(self, **options: Any):
        known = {f.name for f in fields(Options)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"unknown sandbox option(s): {unknown}")
        self.options = Options(**options)
        self.app: App | None = None
        self.server: Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url: str | None = None

    # -- lifecycle
    def start(self) -> str:
        if self.server is not None and self.base_url is not None:
            return self.base_url
        app = self._app()
        mode = app.prewarm_mode()
        if mode == "sync" and not app.warm_done.is_set():
            app.prewarm(background=False)
        self.server = Server((self.options.host, int(self.options.port)), app)
        host, port = self.server.server_address[:2]
        self.base_url = f"http://{host!s}:{port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="kustomer-sandbox",
            daemon=True,
        )
        self._thread.start()
        if mode == "background" and not app.warm_done.is_set():
            app.prewarm()
        return self.base_url

    def stop(self) -> None:
        if self.server is None:
            return
        self._app().warm_stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.server = None
        self._thread = None

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- convenience
    @property
    def token(self) -> str:
        return self.options.token

    @property
    def restricted_token(self) -> str:
        return self.options.restricted_token

    def _app(self) -> App:
        if self.app is None:
            self.app = App(self.options)
        return self.app

    def truth(self, stream: str | None = None) -> dict[str, Any]:
        """Same JSON as ``GET /__sandbox/truth[?stream=]``:
        ``{"streams": {name: [{"id", "updatedAt", "createdAt", "deleted", "archived"}, ...]},
        "now": ..., "horizon": ...}`` (rows in id order; kobjects also carry ``klass``)."""
        return self._app().truth(stream)

    def update_random(self, stream: str, count: int) -> list[str]:
        """Move ``count`` random live records of ``stream`` to the current time; their ids.

        With ``index_lag_seconds`` search sees each change only after its own random delay."""
        ids: list[str] = self._app().update(stream, count)["ids"]
        return ids

    def update(
        self,
        stream: str,
        count: int | None = None,
        ids: list[str] | None = None,
        delete: bool = False,
        remove: bool = False,
    ) -> dict[str, Any]:
        """Like ``POST /__sandbox/update``; ``delete=True`` soft-deletes the records,
        ``remove=True`` hard-deletes them (list streams only, see :meth:`remove`)."""
        return self._app().update(stream, count, ids, delete, remove)

    def remove(self, stream: str, ids: list[str]) -> dict[str, Any]:
        """Hard delete: ``ids`` leave ``stream``'s GET list, GET-by-id and the truth. For users,
        teams, tags, shortcuts and the static routing lists (routing_statuses,
        team_routing_settings, sub_statuses, snoozes)."""
        return self._app().remove(stream, ids)

    def stats(self) -> dict[str, Any]:
        return self._app().stats_dict()

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        """Change fault settings at run time: ``fault_rate``, ``weights`` ({kind: weight} or
        "500:1,drop:2"), ``slow_seconds``, ``latency_ms``, ``paths`` (path prefixes),
        ``retry_after``, ``force`` (list of kinds for the next requests; kinds 500, 502, 503,
        504, drop, slow, truncate, truncate:length, truncate:json, 429), ``burst_429`` (n),
        ``clear`` (drop queued forced faults)."""
        return self._app().faults.configure(**settings)

    def set_limits(
        self,
        org_limit: int | None = None,
        search_limit: int | None = None,
        window_seconds: float | None = None,
        reset: bool = True,
    ) -> dict[str, Any]:
        app = self._app()
        app.limiter.configure(org_limit, search_limit, window_seconds)
        if reset:
            app.limiter.reset()
        return app.limiter.state()

    def reset(self, stats: bool = True, limits: bool = True, faults: bool = False) -> None:
        self._app().reset(stats=stats, limits=limits, faults=faults)

    def config(self) -> dict[str, Any]:
        return self._app().config_dict()


def main(argv: list[str] | None = None) -> int:
    from .cli import main as _main

    return _main(argv)
