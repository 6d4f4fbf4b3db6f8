"""What `tap-kustomer --about` prints: name, version, capabilities and every config setting.

SETTINGS is the one declaration of the config keys the tap reads: each key's type, default,
bounds and description are written here and nowhere else. config.py reads its defaults and
bounds from it; README's config table is `--about --format markdown`; meltano.yml repeats the
descriptions, and the tests keep all of them in step. It is a JSON Schema object, as singer-sdk
taps print it and MeltanoHub's importer reads it.

`default` is given only where passing the default explicitly changes nothing: Meltano turns a
default into a value it always sends, and region, base_url, subdomain and prod_point must not
all be sent at once.
"""

from __future__ import annotations

import json
import sys
from importlib import metadata
from typing import Any, TextIO

from tap_kustomer import __version__

NAME = "tap-kustomer"
DESCRIPTION = (
    "Singer tap for Kustomer: customers, conversations, messages, notes, companies, custom "
    "objects, users, teams, tags, shortcuts, work sessions, work items, conversation times, "
    "routing, audit logs and more"
)
CAPABILITIES = ["catalog", "discover", "state", "about"]

SETTINGS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "api_token": {
            "type": "string",
            "description": "Kustomer API key, sent as 'Authorization: Bearer ...'. Create it "
            "under Settings > Security > API Keys with the roles in the README's streams table.",
            "secret": True,
            "writeOnly": True,
        },
        "api_key": {
            "type": "string",
            "description": "Alias of api_token (MeltanoLabs tap-kustomer's name for it); "
            "api_token wins when both are set.",
            "secret": True,
            "writeOnly": True,
            "deprecated": True,
        },
        "start_date": {
            "type": "string",
            "format": "date-time",
            "description": "Earliest updatedAt to extract on the first run: an RFC 3339 "
            "date-time (2024-01-31T00:00:00Z) or YYYY-MM-DD (UTC midnight). Default: 365 days "
            "before the run.",
        },
        "base_url": {
            "type": "string",
            "format": "uri",
            "description": "API root without /v1. Default: https://api.kustomerapp.com (US). "
            "http:// is accepted only for loopback hosts (the token must never travel in clear "
            "text). Set at most one of base_url, region, subdomain, prod_point.",
        },
        "region": {
            "type": "string",
            "enum": ["us", "eu", "in"],
            "description": "us: api.kustomerapp.com, eu: api.prod2.kustomerapp.com, "
            "in: api.prod4.kustomerapp.com. Default: us.",
        },
        "subdomain": {
            "type": "string",
            "description": "Your org's name, giving https://<subdomain>.api.kustomerapp.com, "
            "which routes to the right region by itself.",
        },
        "user_agent": {
            "type": "string",
            "default": f"tap-kustomer/{__version__}",
            "description": "User-Agent of every request; Kustomer asks for one that identifies "
            "you, e.g. 'tap-kustomer (data@acme.com)'.",
        },
        "page_size": {
            "type": "integer",
            "minimum": 1,
            "description": "Records per request, lowered to each endpoint's maximum (500 for "
            "search, users and teams; 100 for other lists). Default: that maximum.",
        },
        "request_timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 3600,
            "default": 60,
            "description": "Seconds a request may wait: to connect, for the answer to "
            "start, and for its whole body, counted from the request's start (a body trickling "
            "in byte by byte fails in time); then it is retried.",
        },
        "include_deleted": {
            "type": "boolean",
            "default": True,
            "description": "Search streams also read soft-deleted records, which arrive with "
            "deleted: true so the warehouse can drop them (README, Streams).",
        },
        "record_format": {
            "type": "string",
            "enum": ["denested", "jsonapi"],
            "default": "denested",
            "description": "denested: flat snake_case records, as tap-kustomer 1.x; jsonapi: id, "
            "type, attributes, relationships and links as Kustomer returns them, plus updated_at "
            "(MeltanoLabs' tap and dbt-kustomer).",
        },
        "progress_interval": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 86400,
            "default": 30,
            "description": "Seconds between progress lines (records, pages, records per "
            "second, percent done) for each stream being synced.",
        },
        "max_workers": {
            "type": "integer",
            "minimum": 1,
            "maximum": 32,
            "default": 4,
            "description": "Streams synced at the same time (1 syncs one at a time); requests "
            "in flight and search pages fetched ahead are at most twice that. The request "
            "budget is shared whatever the number. Output stays one whole message per line, "
            "each stream's records stay in ascending order, and every STATE covers only what "
            "is already written.",
        },
        "api_utilization": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 100,
            "default": 50,
            "description": "Percent of the org's request budget (x-ratelimit-limit, 300 to "
            "2,000 a minute by plan, shared with agents and other integrations) the tap may "
            "use. The key's own search budget (100 a minute) is always used in full.",
        },
        "lookback_seconds": {
            "type": "number",
            "minimum": 0,
            "maximum": 31622400,
            "default": 300,
            "description": "Every incremental search read starts this many seconds before its "
            "bookmark, so an update Kustomer indexes late is still read; records re-read in the "
            "overlap are emitted again (targets upsert them by id). 0 turns it off.",
        },
        "max_response_mb": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1024,
            "default": 64,
            "description": "Largest answer the tap reads, in megabytes after decompression "
            "(Kustomer's largest pages are a few MB); a larger one fails the run, naming this "
            "setting.",
        },
        "max_rate_limit_wait": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 86400,
            "default": 1800,
            "description": "Seconds the tap may spend waiting out 429s for one budget (search "
            "or org) without that budget letting a request through; then the run stops with "
            "exit 1 and a CRITICAL line, after a valid STATE, so a scheduler's next run can "
            "start. Waits the tap plans itself, to keep within the budget, do not count.",
        },
        "page_size_limit": {
            "type": ["integer", "string"],
            "description": "tap-kustomer 1.x's name for page_size (an integer or a string of "
            "digits); used when page_size is not set. Logged once at INFO.",
            "deprecated": True,
        },
        "date_window_size": {
            "type": ["integer", "string"],
            "description": "Accepted from tap-kustomer 1.x configs and ignored (1.x never "
            "used it either). Logged once at INFO.",
            "deprecated": True,
        },
        "prod_point": {
            "type": "integer",
            "enum": [1, 2],
            "description": "MeltanoLabs tap-kustomer's region switch: 1 is region us, "
            "2 is region eu; any other value is a config error.",
            "deprecated": True,
        },
    },
    "required": ["api_token"],
}


def _python_versions() -> list[str]:
    """Python versions from the installed package's classifiers (pyproject.toml)."""
    try:
        classifiers = metadata.metadata(NAME).get_all("Classifier") or []
    except metadata.PackageNotFoundError:
        return []
    prefix = "Programming Language :: Python :: 3."
    return [c.rsplit(" :: ", 1)[1] for c in classifiers if c.startswith(prefix)]


def about() -> dict[str, Any]:
    """The --about document (singer-sdk's shape; no SDK: the tap writes Singer messages itself)."""
    return {
        "name": NAME,
        "description": DESCRIPTION,
        "version": __version__,
        "sdk_version": None,
        "supported_python_versions": _python_versions(),
        "capabilities": list(CAPABILITIES),
        "settings": SETTINGS,
    }


def env_var(setting: str) -> str:
    """The environment variable Meltano reads a setting from."""
    return f"TAP_KUSTOMER_{setting.upper()}"


def render_text(info: dict[str, Any]) -> str:
    """Plain --about, laid out like singer-sdk's."""
    lines = [
        f"Name: {info['name']}",
        f"Description: {info['description']}",
        f"Version: {info['version']}",
        f"SDK Version: {info['sdk_version'] or 'none'}",
        f"Supported Python Versions: {', '.join(info['supported_python_versions']) or 'unknown'}",
        "Capabilities:",
        *(f"  - {capability}" for capability in info["capabilities"]),
        "Settings:",
    ]
    required = set(info["settings"].get("required", []))
    for name, spec in info["settings"]["properties"].items():
        kind = spec["type"] if isinstance(spec["type"], str) else " or ".join(spec["type"])
        if "format" in spec:
            kind += f" ({spec['format']})"
        lines += [f"  - Name: {name}", f"    Type: {kind}"]
        if "enum" in spec:
            lines.append(f"    Allowed values: {', '.join(str(v) for v in spec['enum'])}")
        if "default" in spec:
            default = spec["default"]
            shown = json.dumps(default) if isinstance(default, bool) else default
            lines.append(f"    Default: {shown}")
        flags = [
            flag
            for flag, on in (
                ("required", name in required),
                ("secret", spec.get("secret")),
                ("deprecated (accepted for compatibility)", spec.get("deprecated")),
            )
            if on
        ]
        if flags:
            lines.append(f"    Flags: {', '.join(flags)}")
        lines += [
            f"    Environment Variable (Meltano): {env_var(name)}",
            f"    Description: {spec['description']}",
        ]
    return "\n".join(lines) + "\n"


def render_markdown(info: dict[str, Any]) -> str:
    """The settings as a Markdown table (README's config table is this output)."""
    required = set(info["settings"].get("required", []))
    lines = ["| key | required | default | meaning |", "|---|---|---|---|"]
    for name, spec in info["settings"]["properties"].items():
        default = spec.get("default", "")
        shown = json.dumps(default) if isinstance(default, bool) else str(default)
        flags = " Secret." if spec.get("secret") else ""
        required_cell = "yes" if name in required else "no"
        lines.append(f"| `{name}` | {required_cell} | {shown} | {spec['description']}{flags} |")
    return "\n".join(lines) + "\n"


RENDERERS = {"text": render_text, "json": lambda info: json.dumps(info, indent=2) + "\n",
             "markdown": render_markdown}  # fmt: skip


def write_about(output_format: str, out: TextIO | None = None) -> int:
    """Write --about in `output_format` (a RENDERERS key) to stdout. Returns the exit code."""
    (out or sys.stdout).write(RENDERERS[output_format](about()))
    return 0
