"""Command line: arguments, config, and the one place errors become exit codes.

Exit codes: 0 success; 1 the sync failed (API or paging error); 2 bad input (arguments,
config, catalog or state), detected before any request.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import logging
import os
import sys
import traceback
from typing import Any, NoReturn

from tap_kustomer import __version__, interrupt
from tap_kustomer.about import RENDERERS, write_about
from tap_kustomer.client import KustomerClient
from tap_kustomer.config import Settings, load_settings, read_json_file
from tap_kustomer.discover import DISCOVERY_RETRIES, OrgDefinitions, discover, read_org
from tap_kustomer.errors import ConfigError, TapKustomerError
from tap_kustomer.sync import (
    SingerWriter,
    read_state,
    read_state_file,
    select_by_default,
    select_streams,
    sync,
)

LOGGER = logging.getLogger("tap_kustomer")


EPILOG = """\
examples:
  tap-kustomer --config config.json --discover > catalog.json
  tap-kustomer --config config.json --catalog catalog.json --state state.json | target-jsonl
  tap-kustomer --about                 every config setting, its type and default

exit codes:
  0    success (streams the API key may not read are skipped with a WARNING)
  1    the sync or discovery failed (API, network or paging error); the last STATE
       printed is valid: run again with it
  2    bad arguments, config, catalog or state; nothing was requested
  130  interrupted (Ctrl-C, SIGINT); 143 stopped by SIGTERM; the last STATE is valid

environment:
  TAP_KUSTOMER_LOG_LEVEL   DEBUG, INFO (default), WARNING or ERROR; logs go to stderr
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"{message} (see tap-kustomer --help)")


def build_parser() -> argparse.ArgumentParser:
    """Singer's standard flags, plus --version and --about [--format json]; --help says what
    each does, the exit codes and the log level variable."""
    parser = _Parser(
        prog="tap-kustomer",
        description="Singer tap for the Kustomer API: an org's data as Singer messages on\n"
        "stdout, logs on stderr.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-c",
        "--config",
        metavar="FILE",
        help="config JSON file (required, except with --about or --version); every key is "
        "described by --about",
    )
    parser.add_argument(
        "-d",
        "--discover",
        action="store_true",
        help="print the catalog (every stream, its schema and metadata) as JSON and exit",
    )
    parser.add_argument(
        "--catalog",
        metavar="FILE",
        help='catalog JSON file whose "selected" metadata chooses the streams and fields to '
        "sync; without it the tap discovers and syncs every stream selected by default",
    )
    parser.add_argument("-p", "--properties", metavar="FILE", help="legacy name of --catalog")
    parser.add_argument(
        "-s",
        "--state",
        metavar="FILE",
        help="state JSON file: the last STATE a previous run printed (also as a STATE line or "
        "Meltano's singer_state); a missing or empty file is a first run",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument(
        "--about",
        action="store_true",
        help="describe the tap, its capabilities and every config setting, then exit",
    )
    parser.add_argument(
        "--format",
        choices=list(RENDERERS),
        help="output format of --about (default text; markdown: the settings table)",
    )
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The arguments, checked (a problem is a ConfigError: exit 2)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.format and not args.about:
        parser.error("--format goes with --about")
    if not args.version and not args.about and not args.config:
        parser.error("--config is required")
    if args.catalog and args.properties:
        parser.error("give --catalog or --properties, not both")
    return args


def configure_logging() -> None:
    """Log lines go to stderr as 'LEVEL message', Singer's format; level from the environment."""
    level_name = os.environ.get("TAP_KUSTOMER_LOG_LEVEL", "INFO").upper()
    level = logging.getLevelName(level_name)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if isinstance(level, int) else logging.INFO)
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def run(args: argparse.Namespace) -> int:
    """Discover or sync, as the arguments say."""
    if args.version:
        sys.stdout.write(f"tap-kustomer {__version__}\n")
        return 0
    if args.about:
        return write_about(args.format or "text")
    settings = load_settings(read_json_file(args.config, "config"))
    if args.discover:
        json.dump(discover(settings.record_format, discover_org(settings)), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    catalog_path = args.catalog or args.properties
    catalog: Any = read_json_file(catalog_path, "catalog") if catalog_path else None
    selections = select_streams(catalog, settings.record_format) if catalog_path else None
    state = read_state_file(args.state) if args.state else read_state(None)
    _limit_malloc_arenas()
    writer = SingerWriter(sys.stdout)
    try:
        if selections is None:  # no catalog: discover, then sync what is selected by default
            discovered = discover(settings.record_format, discover_org(settings))
            selections = select_streams(select_by_default(discovered), settings.record_format)
        if not selections:
            LOGGER.warning("no stream is selected in the catalog; nothing to do")
        client = KustomerClient(settings)
        try:
            sync(client, settings, selections, state, writer)
        finally:
            client.close()
    except KeyboardInterrupt:
        # Every stream has stopped (sync waits for its threads): the last line is a STATE
        # holding every bookmark written, as after a failure.
        writer.state(state)
        raise
    return 0


def discover_org(settings: Settings) -> OrgDefinitions:
    """The org's klasses and custom attributes, read with discovery's one retry rule
    (DISCOVERY_RETRIES), by --discover and by a sync without --catalog alike."""
    client = KustomerClient(settings, policy=DISCOVERY_RETRIES)
    try:
        return read_org(client)
    finally:
        client.close()


def _limit_malloc_arenas() -> None:
    """glibc gives each thread its own malloc arena, where freed pages of answers linger: with
    four workers that held about 25 MB of peak RSS (measured, docs/benchmarks.md). Two arenas
    keep memory flat. Elsewhere than glibc this does nothing."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX = -8 in malloc.h


def main(argv: list[str] | None = None) -> int:
    """Entry point of the tap-kustomer command."""
    configure_logging()
    try:
        with interrupt.signals_stop_the_run():
            return run(parse_args(argv))
    except TapKustomerError as exc:
        LOGGER.critical("%s", exc)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM, during a wait or not
        stopped = exc if isinstance(exc, interrupt.Interrupted) else interrupt.Interrupted()
        LOGGER.critical(
            "interrupted (%s); the last STATE printed is valid: run again with it", stopped
        )
        return stopped.exit_code
    except BrokenPipeError:
        # The target went away; our last STATE line is still the valid one.
        LOGGER.critical("stdout was closed (did the target exit?)")
        return 1
    except Exception as exc:  # a bug: say where, but not the message (it may hold record data)
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{os.path.basename(frame.filename)}:{frame.lineno}"
        LOGGER.critical("unexpected %s at %s; please report it", exc.__class__.__name__, where)
        LOGGER.debug("traceback", exc_info=True)
        return 1
