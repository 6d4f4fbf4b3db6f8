"""Config file → validated Settings. Every problem becomes one ConfigError message.

Every key is declared once, in about.py's SETTINGS: its type, default, bounds and description.
The checks here read their defaults and bounds from there. Besides its own keys the tap
accepts those of tap-kustomer 1.x (`page_size_limit`, `date_window_size`) and of MeltanoLabs'
tap (`api_key`, `prod_point`), so either config works unchanged.
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import json
import logging
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tap_kustomer.about import SETTINGS
from tap_kustomer.errors import ConfigError
from tap_kustomer.timeutil import format_ts, parse_ts

REGION_HOSTS = {
    "us": "https://api.kustomerapp.com",
    "eu": "https://api.prod2.kustomerapp.com",
    "in": "https://api.prod4.kustomerapp.com",
}
PROD_POINTS = {1: "us", 2: "eu"}  # MeltanoLabs tap-kustomer's prod_point → our region
DEFAULT_LOOKBACK_DAYS = 365  # Stitch's one-year historical window (start_date's default)
LOGGER = logging.getLogger(__name__)
# Keys Meltano writes into a tap's config when the extractor's definition declares the
# singer-sdk capabilities stream-maps, schema-flattening or batch (MeltanoLabs' Hub variant of
# tap-kustomer does, so a project switched to this tap may still send them). This tap
# implements none of them, but they are Meltano's, not the user's typos: accepted silently.
MELTANO_KEYS = frozenset(
    {
        "stream_maps",
        "stream_map_config",
        "faker_config",
        "flattening_enabled",
        "flattening_max_depth",
        "flattening_max_key_length",
        "batch_config",
    }
)
# What an HTTP header may carry: visible ASCII (a token has no space); a user agent may also
# hold spaces. "€" or a line break would fail every request, or split the header.
_TOKEN_CHARS = re.compile(r"^[\x21-\x7e]+$")
_HEADER_CHARS = re.compile(r"^[\x20-\x7e]*$")
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")
_SUBDOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class Settings:
    """Everything the tap needs from the config file, validated (meanings: about.SETTINGS)."""

    api_token: str
    start_date: str  # canonical "YYYY-MM-DDTHH:MM:SS.mmmZ"
    base_url: str  # API root without /v1 and without a trailing slash
    user_agent: str
    page_size: int | None  # None: each endpoint's default
    request_timeout: float
    progress_interval: float
    include_deleted: bool
    record_format: str  # "denested" or "jsonapi"
    max_workers: int
    api_utilization: float
    lookback_seconds: float
    max_response_mb: float
    max_rate_limit_wait: float


def read_json_file(path: str, what: str) -> Any:
    """Load a JSON file or raise a ConfigError naming the file and the problem."""
    return parse_json_text(read_text_file(path, what), path, what)


def read_text_file(path: str, what: str) -> str:
    """A file's text, or a ConfigError naming the file and the problem."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")  # a byte-order mark is accepted
    except FileNotFoundError:
        raise ConfigError(f"{what} file {path!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.__class__.__name__
        raise ConfigError(f"{what} file {path!r} cannot be read ({reason})") from None


def parse_json_text(text: str, path: str, what: str) -> Any:
    """JSON text → value, or a ConfigError naming the file and where the JSON breaks."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{what} file {path!r} is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None


def load_settings(raw: Any, now: datetime | None = None) -> Settings:
    """Validate a parsed config object."""
    if not isinstance(raw, dict):
        raise ConfigError("config must be a JSON object")
    warn_unknown_keys(raw)
    now = now or datetime.now(UTC)
    settings = Settings(
        api_token=_token(raw),
        start_date=_start_date(raw.get("start_date"), now),
        base_url=_base_url(raw),
        user_agent=_user_agent(raw),
        page_size=_page_size(raw),
        request_timeout=_bounded(raw, "request_timeout"),
        progress_interval=_bounded(raw, "progress_interval"),
        include_deleted=_boolean(raw, "include_deleted"),
        record_format=_choice(raw, "record_format"),
        max_workers=int(_bounded(raw, "max_workers")),
        api_utilization=_bounded(raw, "api_utilization"),
        lookback_seconds=_bounded(raw, "lookback_seconds"),
        max_response_mb=_bounded(raw, "max_response_mb"),
        max_rate_limit_wait=_bounded(raw, "max_rate_limit_wait"),
    )
    _log_compatibility(raw, settings)
    return settings


def warn_unknown_keys(raw: dict[str, Any]) -> None:
    """One WARNING per key the tap does not read, naming the closest setting (a typo such as
    start_data would otherwise leave the run on the default silently)."""
    known = list(SETTINGS["properties"])
    for key in raw:
        if key in SETTINGS["properties"] or key in MELTANO_KEYS:
            continue
        close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else "see tap-kustomer --about for the settings"
        LOGGER.warning("config key %r is unknown and ignored; %s", key, hint)


def _token(raw: dict[str, Any]) -> str:
    key = "api_token" if "api_token" in raw else "api_key"
    token = raw.get("api_token", raw.get("api_key"))
    if token is None:
        raise ConfigError("config is missing 'api_token' (your Kustomer API key)")
    if not isinstance(token, str) or not token.strip():
        raise ConfigError(f"config {key!r} must be a non-empty string")
    if not _TOKEN_CHARS.match(token.strip()):  # never shown: it is a secret
        raise ConfigError(
            f"config {key!r} holds a space, a line break or a character that is not ASCII "
            "(such as '€'); a Kustomer API key has none: copy it again"
        )
    return token.strip()


def _user_agent(raw: dict[str, Any]) -> str:
    agent = _optional_str(raw, "user_agent") or _default("user_agent")
    if not _HEADER_CHARS.match(agent):
        raise ConfigError(
            "config 'user_agent' must be printable ASCII on one line (it is sent as an HTTP header)"
        )
    return agent


def _optional_str(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"config {key!r} must be a string")
    return value.strip()


def _start_date(value: Any, now: datetime) -> str:
    if value is None or value == "":
        return format_ts(now - timedelta(days=DEFAULT_LOOKBACK_DAYS))
    if not isinstance(value, str):
        raise ConfigError("config 'start_date' must be a string such as 2024-01-31T00:00:00Z")
    parsed = parse_ts(value)
    if parsed is None:
        raise ConfigError(
            f"config 'start_date' {value!r} is not an RFC 3339 date-time or a YYYY-MM-DD date"
        )
    if parsed > now:
        raise ConfigError(f"config 'start_date' {value!r} is in the future")
    return format_ts(parsed)


def _base_url(raw: dict[str, Any]) -> str:
    given = [k for k in ("base_url", "subdomain", "region", "prod_point") if _given(raw, k)]
    if len(given) > 1:
        raise ConfigError(f"config sets {' and '.join(given)}: set only one of them")
    if "subdomain" in given:
        sub = _optional_str(raw, "subdomain") or ""
        if not _SUBDOMAIN.match(sub.lower()):
            raise ConfigError(f"config 'subdomain' {sub!r} is not a valid Kustomer org name")
        return f"https://{sub.lower()}.api.kustomerapp.com"
    if "base_url" in given:
        return _checked_url(_optional_str(raw, "base_url") or "")
    if "prod_point" in given:
        return REGION_HOSTS[_prod_point_region(raw["prod_point"])]
    region = raw.get("region", "us")
    if not isinstance(region, str) or region.lower() not in REGION_HOSTS:
        raise ConfigError(f"config 'region' {region!r} is unknown: use one of us, eu, in")
    return REGION_HOSTS[region.lower()]


def _checked_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (a port that is not a number from 0 to 65535 raises)
    except ValueError:
        raise ConfigError(f"config 'base_url' {url!r} is malformed (its host or port)") from None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"config 'base_url' {url!r} must be an https:// URL")
    if _CONTROL_OR_SPACE.search(url) or "@" in parts.netloc:
        raise ConfigError(
            f"config 'base_url' {url!r} must not hold spaces, control characters or a user name"
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(
            f"config 'base_url' {url!r} uses http:// for a host that is not loopback; "
            "the API token must not travel in clear text: use https://"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"config 'base_url' {url!r} must not have a query or fragment")
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return f"{parts.scheme}://{parts.netloc}{path}"


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _whole_number(value: Any) -> int | None:
    """An integer given as a JSON number or a string of digits (not a boolean); else None."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _prod_point_region(value: Any) -> str:
    """MeltanoLabs tap-kustomer's prod_point (1 or 2, as a number or a string) → region."""
    number = _whole_number(value)
    if number not in PROD_POINTS:
        raise ConfigError(
            f"config 'prod_point' {value!r} is unknown: use 1 (region us) or 2 (region eu), "
            "or set 'region' instead"
        )
    return PROD_POINTS[number]


def _page_size(raw: dict[str, Any]) -> int | None:
    """page_size, or tap-kustomer 1.x's page_size_limit when page_size is not set."""
    key = "page_size" if _given(raw, "page_size") else "page_size_limit"
    if not _given(raw, key):
        return None
    value = raw[key]
    number = _whole_number(value)
    if number is None or number < 1:
        raise ConfigError(
            f"config {key!r} {value!r} must be a whole number of at least 1 "
            "(values above an endpoint's maximum are lowered to it)"
        )
    return number


def _given(raw: dict[str, Any], key: str) -> bool:
    return raw.get(key) not in (None, "")


def _log_compatibility(raw: dict[str, Any], settings: Settings) -> None:
    """One INFO line per compatibility key, once the whole config is known to be valid."""
    one_x = "accepted for compatibility with tap-kustomer 1.x"
    if _given(raw, "page_size_limit"):
        what = (
            "ignored, because 'page_size' is set"
            if _given(raw, "page_size")
            else f"used as page_size {settings.page_size}"
        )
        LOGGER.info("config 'page_size_limit' %s; %s", one_x, what)
    if _given(raw, "date_window_size"):
        LOGGER.info("config 'date_window_size' %s; ignored (this tap needs no date windows)", one_x)
    if _given(raw, "prod_point"):
        LOGGER.info(
            "config 'prod_point' accepted for compatibility with MeltanoLabs tap-kustomer; "
            "used as region %s",
            _prod_point_region(raw["prod_point"]),
        )


def _boolean(raw: dict[str, Any], key: str) -> bool:
    """A JSON boolean, or the strings Meltano and environment variables produce."""
    value = raw.get(key, _default(key))
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise ConfigError(f"config {key!r} must be true or false, not {value!r}")
    return value


def _number(value: Any) -> int | float | None:
    """A JSON number (not a boolean), or a string holding one as a float; else None."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return float(value)
        return None
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _spec(key: str) -> dict[str, Any]:
    spec: dict[str, Any] = SETTINGS["properties"][key]
    return spec


def _default(key: str) -> Any:
    return _spec(key)["default"]


def _choice(raw: dict[str, Any], key: str) -> str:
    """One of the setting's `enum` values."""
    value, allowed = raw.get(key, _default(key)), _spec(key)["enum"]
    if value not in allowed:
        raise ConfigError(f"config {key!r} {value!r} is unknown: use {' or '.join(allowed)}")
    return str(value)


def _bounded(raw: dict[str, Any], key: str) -> float:
    """A number (a whole one for an integer setting) within the setting's declared bounds;
    the default when the key is absent."""
    spec = _spec(key)
    value = raw.get(key, spec["default"])
    whole = spec["type"] == "integer"
    number = _whole_number(value) if whole else _number(value)
    if number is None or not _within(number, spec):
        shown = value if number is None else number
        raise ConfigError(f"config {key!r} {shown!r} must be {_bounds(spec)}")
    return float(number)


def _within(number: float, spec: dict[str, Any]) -> bool:
    if "exclusiveMinimum" in spec and not number > spec["exclusiveMinimum"]:
        return False
    low: float = spec.get("minimum", -math.inf)
    high: float = spec.get("maximum", math.inf)
    return low <= number <= high


def _bounds(spec: dict[str, Any]) -> str:
    """What a bounded setting accepts, in words: "a number above 0 and at most 3600"."""
    top = _plain(spec["maximum"])
    if spec["type"] == "integer":
        return f"a whole number from {spec['minimum']} to {top}"
    if "exclusiveMinimum" in spec:
        return f"a number above {_plain(spec['exclusiveMinimum'])} and at most {top}"
    return f"a number, {_plain(spec['minimum'])} or more and at most {top}"


def _plain(number: float) -> str:
    """31622400, not 3.16224e+07."""
    return f"{number:.15g}"
