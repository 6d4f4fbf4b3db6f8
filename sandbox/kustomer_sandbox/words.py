"""Word lists that make generated records look plausible (all invented), from
``catalog/words.json``."""

from __future__ import annotations

from .gen.base import load_catalog

_WORDS: dict[str, list[str]] = load_catalog("words.json")

FIRST = tuple(_WORDS["first"])
LAST = tuple(_WORDS["last"])
DOMAINS = tuple(_WORDS["domains"])
COMPANY_WORDS = tuple(_WORDS["company_words"])
COMPANY_SUFFIX = tuple(_WORDS["company_suffix"])
SUBJECTS = tuple(_WORDS["subjects"])
SNIPPETS = tuple(_WORDS["snippets"])
NOTE_BODIES = tuple(_WORDS["note_bodies"])
TAG_WORDS = tuple(_WORDS["tag_words"])
COLORS = tuple(_WORDS["colors"])
DISPLAY_COLORS = tuple(_WORDS["display_colors"])
LOCALES = tuple(_WORDS["locales"])
TIME_ZONES = tuple(_WORDS["time_zones"])
PRODUCTS = tuple(_WORDS["products"])
TEAM_NAMES = tuple(_WORDS["team_names"])
SHORTCUT_WORDS = tuple(_WORDS["shortcut_words"])
