"""Sync: which streams and fields, in what order, and when state advances.

Each stream's rule (bookmarks.py) says where its run starts and what bookmark a page may
carry; state advances in one place, `SingerWriter.page` (called by `sync_stream` for every
page): under the writer's lock, the page's records are written, then its bookmark (capped at
the sync's start, the "signpost") goes into the state, then STATE is written. Streams run on up
to max_workers threads, but no STATE can cover a page another thread has not written yet, so
a run killed at any line resumes from the last STATE without losing a record.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, TextIO

import orjson

from tap_kustomer.client import CURRENT_STREAM, KustomerClient
from tap_kustomer.config import Settings, parse_json_text, read_text_file
from tap_kustomer.discover import KLASS_METADATA_KEY, load_schema
from tap_kustomer.errors import ConfigError, ForbiddenError
from tap_kustomer.paging import attribute_ts
from tap_kustomer.progress import StreamProgress, log_summary, plural
from tap_kustomer.streams import STREAMS, Stream, klass_stream
from tap_kustomer.timeutil import canonical_ts, format_ts

LOGGER = logging.getLogger(__name__)

JSON = dict[str, Any]
BOOKMARK_KEYS = ("updated_at", "created_at", "published_at")  # replication keys: date-times


class SingerWriter:
    """Singer messages, one JSON object per line, on the data channel (stdout).

    Streams write from several threads: each call writes whole lines under one lock, so lines
    never interleave, and a page's RECORDs, its bookmark and the STATE after it go out together.
    """

    def __init__(self, out: TextIO) -> None:
        out.flush()
        self._out = out
        self._buffer: BinaryIO | None = getattr(out, "buffer", None)  # bytes straight to stdout
        self._lock = threading.Lock()

    def _write(self, data: bytes) -> None:
        if self._buffer is not None:
            self._buffer.write(data)
        else:
            self._out.write(data.decode())

    def _flush(self) -> None:
        (self._buffer or self._out).flush()

    def schema(
        self, stream: str, schema: JSON, key_properties: list[str], bookmark: list[str]
    ) -> None:
        """SCHEMA: always before the stream's first RECORD."""
        message = {
            "type": "SCHEMA",
            "stream": stream,
            "schema": schema,
            "key_properties": key_properties,
        }
        if bookmark:
            message["bookmark_properties"] = bookmark
        with self._lock:
            self._write(_dumps(message) + b"\n")

    @staticmethod
    def records(
        stream: str,
        records: Iterable[JSON | None],
        time_extracted: str,
        version: int | None = None,
    ) -> bytes:
        """RECORD lines with the time their page was fetched, and the table version of a full
        table's read (built outside the lock; each record is serialised as soon as it is made,
        so a page is held once, as bytes). A record that cannot be serialised is skipped with
        a WARNING naming its id and stream, never a crash; None (a record the shaper skipped)
        is left out."""
        head = b'{"type":"RECORD","stream":' + _dumps(stream) + b',"record":'
        tail = b',"time_extracted":' + _dumps(time_extracted)
        tail += (b',"version":' + _dumps(version) if version is not None else b"") + b"}\n"
        lines = []
        for record in records:
            if record is None:  # the shaper skipped it, with a WARNING
                continue
            try:
                lines.append(head + _dumps(record) + tail)
            except (TypeError, ValueError, RecursionError) as exc:
                LOGGER.warning(
                    "%s: skipped record %s: it cannot be written as JSON (%s)",
                    stream,
                    record.get("id") if isinstance(record, dict) else None,
                    type(exc).__name__,
                )
        return b"".join(lines)

    def page(self, lines: bytes, state: JSON, bookmark: tuple[str, str, str] | None) -> None:
        """A page's RECORD lines, then its bookmark (stream, key, value) into state, then STATE."""
        with self._lock:
            self._write(lines)
            if bookmark is not None:
                name, key, value = bookmark
                state["bookmarks"][name] = {**state["bookmarks"].get(name, {}), key: value}
            self._write_state(state)

    def activate_version(self, stream: str, version: int) -> None:
        """ACTIVATE_VERSION: the records of `version` are the whole table; targets that
        support it drop (or mark deleted) the rows of earlier versions."""
        message = {"type": "ACTIVATE_VERSION", "stream": stream, "version": version}
        with self._lock:
            self._write(_dumps(message) + b"\n")

    def state(self, value: JSON, **changes: Any) -> None:
        """STATE, after applying `changes` to it, flushed with every record written before it."""
        with self._lock:
            value.update(changes)
            self._write_state(value)

    def _write_state(self, value: JSON) -> None:
        self._write(b'{"type":"STATE","value":' + _dumps(value) + b"}\n")
        self._flush()


def _dumps(value: Any) -> bytes:
    """Compact JSON (orjson: about ten times faster than json.dumps on records; see README).

    What orjson refuses (an integer beyond 64 bits, nesting deeper than 255, a lone surrogate)
    is written by the standard library, exact, with a lone surrogate replaced by U+FFFD; a
    value neither can write raises TypeError, ValueError or RecursionError."""
    try:
        return orjson.dumps(value)
    except TypeError:
        text = json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
        try:
            return text.encode()
        except UnicodeEncodeError:  # lone surrogates: no UTF-8 holds them
            return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace").encode()


@dataclass(frozen=True)
class Selection:
    """A stream chosen for this run, its schema and the fields the catalog deselected."""

    stream: type[Stream]
    schema: JSON
    deselected: frozenset[str]


def select_streams(catalog: JSON, record_format: str = "denested") -> list[Selection]:
    """Streams to sync: the catalog's selected ones (see select_by_default for no catalog).

    In the `jsonapi` record format every stream has the same fixed schema, whatever the
    catalog's (so a catalog discovered in the other format still selects streams and fields).
    """
    entries = catalog.get("streams") if isinstance(catalog, dict) else None
    if not isinstance(entries, list):
        raise ConfigError("catalog must be a JSON object with a 'streams' list")
    chosen: dict[str, Selection] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise ConfigError("catalog 'streams' must hold objects")
        name = entry.get("tap_stream_id") or entry.get("stream")
        metadata = _metadata_map(entry, name)
        schema: JSON = entry["schema"] if isinstance(entry.get("schema"), dict) else {}
        if not (metadata.get((), {}).get("selected") or schema.get("selected")):
            continue
        stream = _stream_class(name, metadata.get((), {}))
        if record_format == "jsonapi" or not schema:
            schema = load_schema(stream.schema_file(), record_format)
        chosen[str(name)] = _selection(stream, schema, metadata)
    fixed = [chosen.pop(name) for name in STREAMS if name in chosen]
    return fixed + [chosen[name] for name in sorted(chosen)]  # then the klass streams


def select_by_default(catalog: JSON) -> JSON:
    """A discovered catalog with its streams selected as their metadata recommends."""
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = item["metadata"]["selected-by-default"]
    return catalog


def _stream_class(name: Any, top: JSON) -> type[Stream]:
    """The stream a catalog entry names: a fixed one, or a klass's (named in its metadata)."""
    if name in STREAMS:
        return STREAMS[name]
    klass = top.get(KLASS_METADATA_KEY)
    if isinstance(name, str) and name.startswith("kobject_") and isinstance(klass, str) and klass:
        return klass_stream(klass, name)
    raise ConfigError(
        f"catalog selects stream {name!r}, which tap-kustomer does not have "
        f"(it has {', '.join(STREAMS)} and kobject_<klass> streams with a "
        f"{KLASS_METADATA_KEY!r} metadata entry); run --discover for a fresh catalog"
    )


def _metadata_map(entry: JSON, name: Any) -> dict[tuple[str, ...], JSON]:
    metadata = entry.get("metadata", [])
    if not isinstance(metadata, list):
        raise ConfigError(f"catalog stream {name!r}: 'metadata' must be a list")
    mapped: dict[tuple[str, ...], JSON] = {}
    for item in metadata:
        if not isinstance(item, dict) or not isinstance(item.get("breadcrumb"), list):
            raise ConfigError(f"catalog stream {name!r}: each metadata item needs a 'breadcrumb'")
        mapped[tuple(item["breadcrumb"])] = item.get("metadata") or {}
    if not mapped:
        LOGGER.warning("catalog stream %r has no metadata, so it is not selected", name)
    return mapped


def _selection(
    stream: type[Stream], schema: JSON, metadata: dict[tuple[str, ...], JSON]
) -> Selection:
    properties = schema.get("properties", {})
    deselected = set()
    for breadcrumb, meta in metadata.items():
        if len(breadcrumb) != 2 or breadcrumb[0] != "properties":
            continue
        field = breadcrumb[1]
        if field not in properties:
            if meta.get("selected"):
                LOGGER.warning(
                    "catalog selects field %r of %s, which its schema does not have; ignored",
                    field,
                    stream.name,
                )
            continue
        inclusion = meta.get("inclusion")
        unselected = inclusion != "automatic" and meta.get("selected") is False
        if inclusion == "unsupported" or unselected:
            deselected.add(field)
    kept = {k: v for k, v in properties.items() if k not in deselected}
    return Selection(stream, {**schema, "properties": kept}, frozenset(deselected))


def read_state_file(path: str) -> JSON:
    """--state FILE → validated state. A file that does not exist yet, or is empty, is a first
    run (the README's cron script passes the same path every hour, the first time included)."""
    if not Path(path).exists():
        LOGGER.info("state file %r does not exist yet: a first run, from start_date", path)
        return read_state(None)
    text = read_text_file(path, "state")
    if not text.strip():
        LOGGER.info("state file %r is empty: a first run, from start_date", path)
        return read_state(None)
    raw = parse_json_text(text, path, "state")
    if raw is None:
        raise ConfigError(f"state file {path!r} holds null, not a state object")
    return read_state(raw)


def read_state(raw: Any) -> JSON:
    """Validate state, reading tap-kustomer 1.x's bare-string bookmarks too, and unwrapping a
    Singer STATE message ({"type": "STATE", "value": …}: what `tail -n 1` of a run keeps) and
    Meltano's {"singer_state": …} (what `meltano state get` prints)."""
    raw = _unwrapped({} if raw is None else raw)
    unknown = sorted(str(k) for k in raw if k not in ("bookmarks", "currently_syncing"))
    if unknown and "bookmarks" not in raw:
        raise ConfigError(
            f"state is not a tap state: it has {', '.join(unknown)} but no 'bookmarks' (expected "
            '{"bookmarks": {...}}, a STATE line, or Meltano\'s {"singer_state": ...})'
        )
    bookmarks = raw.get("bookmarks")
    bookmarks = {} if bookmarks is None else bookmarks
    if not isinstance(bookmarks, dict):
        raise ConfigError("state 'bookmarks' must be an object")
    currently = raw.get("currently_syncing")
    if currently is not None and not isinstance(currently, str):
        raise ConfigError("state 'currently_syncing' must be a stream name or null")
    normalized = {stream: _bookmark(stream, value) for stream, value in bookmarks.items()}
    return {"bookmarks": normalized, "currently_syncing": currently}


def _unwrapped(raw: Any) -> JSON:
    """The state object itself, out of a Singer STATE message or Meltano's wrapper."""
    if not isinstance(raw, dict):
        raise ConfigError("state must be a JSON object")
    if raw.get("type") == "STATE" and "value" in raw:
        LOGGER.info("state is a Singer STATE message; reading the state in its 'value'")
        raw = raw["value"]
        if not isinstance(raw, dict):
            raise ConfigError("state: the STATE message's 'value' must be a JSON object")
    elif "singer_state" in raw and "bookmarks" not in raw:
        LOGGER.info('state is Meltano\'s {"singer_state": ...}; reading the state inside it')
        raw = raw["singer_state"]
        if not isinstance(raw, dict):
            raise ConfigError("state: Meltano's 'singer_state' must be a JSON object")
    return raw


def _bookmark(stream: str, value: Any) -> JSON:
    """One stream's bookmark, its date-times canonical (1.x wrote a bare string)."""
    bookmark = {"updated_at": value} if isinstance(value, str) else value
    if not isinstance(bookmark, dict):
        raise ConfigError(f"state bookmark for {stream!r} must be an object or a date-time")
    bookmark = dict(bookmark)
    for key in BOOKMARK_KEYS:
        if bookmark.get(key) is not None:
            stamp = canonical_ts(bookmark[key])
            if stamp is None:
                raise ConfigError(
                    f"state bookmark for {stream!r} is not a date-time: {bookmark[key]!r}"
                )
            bookmark[key] = stamp
    return bookmark


class Stopped(Exception):
    """Another stream failed: this one stops at its next page (its STATE is already out)."""


def sync(
    client: KustomerClient,
    settings: Settings,
    selections: list[Selection],
    state: JSON,
    writer: SingerWriter,
    now: datetime | None = None,
) -> None:
    """Sync the selected streams, up to max_workers at once, the interrupted one first."""
    signpost = format_ts(now or datetime.now(UTC))
    order = _resume_order(selections, state.get("currently_syncing"))
    refused: list[ForbiddenError] = []
    summary: list[tuple[StreamProgress, float]] = []
    stop = threading.Event()
    failed: list[str] = []

    def run(selection: Selection) -> None:
        CURRENT_STREAM.set(selection.stream.name)  # requests are counted for this stream
        try:
            sync_stream(client, settings, selection, state, writer, signpost, summary, stop)
        except ForbiddenError as exc:  # this key cannot read this stream: go on without it
            LOGGER.warning("skipping %s", exc)
            refused.append(exc)
        except Stopped:
            raise
        except BaseException:
            failed.append(selection.stream.name)
            raise

    try:
        workers = max(1, min(settings.max_workers, len(order)))
        with ThreadPoolExecutor(workers, thread_name_prefix="stream") as pool:
            futures = [pool.submit(run, selection) for selection in order]
            try:
                for future in as_completed(futures):
                    future.result()  # the first failure ends the run
            except BaseException:
                stop.set()  # the other streams stop at their next page
                for future in futures:
                    future.cancel()
                if failed:  # a resumed run starts with the stream that failed
                    writer.state(state, currently_syncing=failed[0])
                raise
        writer.state(state, currently_syncing=None)
    finally:
        log_summary(summary)
    if refused and len(refused) == len(order):
        raise ForbiddenError(
            "the API key cannot read any selected stream; give it the roles named above", 403
        )


def _resume_order(selections: list[Selection], interrupted: Any) -> list[Selection]:
    """The streams in catalog order, starting with the one the previous run did not finish."""
    names = [s.stream.name for s in selections]
    if interrupted not in names:
        return list(selections)
    LOGGER.info("resuming with %s, which the previous run did not finish", interrupted)
    at = names.index(interrupted)
    return selections[at:] + selections[:at]


def sync_stream(
    client: KustomerClient,
    settings: Settings,
    selection: Selection,
    state: JSON,
    writer: SingerWriter,
    signpost: str,
    summary: list[tuple[StreamProgress, float]] | None = None,
    stop: threading.Event | None = None,
) -> int:
    """Emit one stream: SCHEMA, then per page its RECORDs and a STATE. Returns the count."""
    stream = selection.stream()
    name = stream.name
    rule = stream.bookmark  # where the run starts, and when its bookmark advances
    key = rule.key  # None: a full table, read whole every time
    newest = rule.saved(state["bookmarks"].get(name, {}))
    if newest > signpost:
        LOGGER.warning("%s: bookmark %s is in the future; nothing to read", name, newest)
        start = newest
    else:
        start = rule.start(newest, settings.start_date, settings.lookback_seconds)
    writer.state(state, currently_syncing=name)  # a run failing before its first page resumes here
    writer.schema(name, selection.schema, list(stream.key_properties), [key] if key else [])
    if key:
        LOGGER.info("%s: reading records with %s since %s", name, key, start)
    else:
        LOGGER.info("%s: reading every record (full table)", name)
    progress = StreamProgress(name, settings.progress_interval)
    # A full table's read is one table version (Singer's convention: milliseconds), activated
    # only once the pager says the read was whole.
    version = time.time_ns() // 1_000_000 if key is None and stream.versioned else None
    # Records below the bookmark the run started from were read again by the look-back.
    relisted_below = newest if key == "updated_at" and start < newest else ""
    shape = stream.shaper(settings.record_format, selection.deselected, selection.schema)
    try:
        for page in stream.pages(client, start, signpost, settings):
            if stop is not None and stop.is_set():
                raise Stopped(name)
            extracted = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            lines = writer.records(name, map(shape, page.records), extracted, version)
            if relisted_below:
                progress.relisted += sum(
                    1 for r in page.records if (attribute_ts(r, "updatedAt") or "") < relisted_below
                )
            bookmark = None
            if key and (advanced := rule.advance(newest, page.bookmark, signpost)):
                newest = advanced
                bookmark = (name, key, newest)
            writer.page(lines, state, bookmark)
            if version is not None and page.whole:
                writer.activate_version(name, version)
            progress.page(len(page.records), page.total)
    except ForbiddenError as exc:
        said = f" Kustomer said: {exc.detail}" if exc.detail else ""
        raise ForbiddenError(
            f"stream {name!r}: Kustomer refused access (403); the API key needs {stream.roles}."
            f"{said}",
            403,
            exc.detail,
        ) from None
    finally:
        shape.finish()  # one line per field whose values were converted or set to null
        counts = client.counts(name)
        progress.requests = counts["requests"]
        progress.retries = counts["retries"]
        progress.rate_limit_waits = counts["rate_limit_waits"]
        if summary is not None:
            summary.append((progress, progress.finish()))
    LOGGER.info("%s: %s", name, plural(progress.records, "record"))
    return progress.records
