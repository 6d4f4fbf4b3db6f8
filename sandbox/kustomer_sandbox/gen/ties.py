"""Records sharing one exact ``updatedAt``: big tie blocks and small batch-update ties.

A pager that cuts its pages by ``updatedAt`` alone loses or repeats records in these."""

from __future__ import annotations

import random
from typing import Any

from ..util import DAY_MS, HOUR_MS
from .base import Batch

# Extra tie blocks per stream at scale 1.0: (size, days ago, archived?).  The customers' main
# block (size ``tie_block``, not scaled) comes first.
TIE_BLOCKS = {
    "customers": [(300, 30, False), (100, 600, False), (80, 770, True)],
    "conversations": [(700, 95, False), (250, 400, False), (60, 760, True)],
    "messages": [(650, 45, False), (300, 300, False), (60, 800, True)],
    "notes": [(150, 20, False), (50, 250, False)],
    "kobjects": [(300, 60, False), (80, 350, False), (40, 780, True)],
    "companies": [(50, 100, False)],
}
MAIN_TIE_DAYS = 200
MAX_BLOCK_SHARE = 0.4  # of the records a block could take


def make_ties(
    rng: random.Random, batch: Batch, scale: float, tie_block: int
) -> list[dict[str, Any]]:
    """Move records of ``batch`` into tie blocks, then make small ties; -> the blocks made."""
    blocks = [
        (size if main else round(size * min(1.0, scale)), days, archived)
        for main, (size, days, archived) in _blocks(batch.stream, tie_block)
    ]
    info = []
    for size, days, archived in blocks:
        block_off = days * DAY_MS + rng.randrange(HOUR_MS, DAY_MS - HOUR_MS)
        made = _fill_block(rng, batch, size, archived, block_off)
        if made:
            info.append(
                {"size": made, "days_ago": days, "archived": archived, "offset_ms": block_off}
            )
    for archived in (False, True):
        _small_ties(rng, batch, archived)
    return info


def _blocks(stream: str, tie_block: int) -> list[tuple[bool, tuple[int, int, bool]]]:
    """(is the main block?, (size, days ago, archived)) for ``stream``."""
    extra = [(False, block) for block in TIE_BLOCKS.get(stream, ())]
    if stream == "customers":
        return [(True, (tie_block, MAIN_TIE_DAYS, False)), *extra]
    return extra


def _fill_block(rng: random.Random, batch: Batch, size: int, archived: bool, block_off: int) -> int:
    """Give up to ``size`` records created before ``block_off`` that updatedAt; -> how many."""
    recs, offs = batch.recs, batch.offsets
    eligible = [
        k
        for k, r in enumerate(recs)
        if r.archived == archived and not r.in_block and offs[k][1] >= block_off
    ]
    size = min(size, int(len(eligible) * MAX_BLOCK_SHARE))
    if size < 2:
        return 0
    for k in rng.sample(eligible, size):
        o = offs[k]
        o[0] = block_off
        o[2] = max(o[2], block_off)
        recs[k].in_block = True
    return size


def _small_ties(rng: random.Random, batch: Batch, archived: bool) -> None:
    """Ties of 2-6 records from "batch" updates, within one region (archived or not)."""
    recs, offs = batch.recs, batch.offsets
    ks = sorted(
        (k for k, r in enumerate(recs) if r.archived == archived and not r.in_block),
        key=lambda k: offs[k][0],
    )
    i = 0
    while i < len(ks):
        if rng.random() < 0.03:
            group = ks[i : i + rng.randrange(2, 7)]
            top = min(offs[k][0] for k in group)
            for k in group:
                offs[k][0] = top
            i += len(group)
        else:
            i += 1
