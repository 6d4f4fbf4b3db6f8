"""End to end against a sandbox that answers like the Elasticsearch behind Kustomer search
(search-realism.md): ties ordered per request, totals capped at 10,000, partial answers
(updates indexed late: test_late_updates.py). Every run is compared with the sandbox's ground
truth."""

from __future__ import annotations

from collections import Counter

import pytest
from kustomer_sandbox import Sandbox

from tests.e2e.harness import expected_ids, ground_truth, run_tap, run_tap_killed
from tests.samples import selected_catalog

STREAMS = ("customers", "conversations", "messages")
UNLIMITED = {"org_limit": 10**9, "search_limit": 10**9}
# Mode → (sandbox options, scale, streams). Scale 1: 12,000 customers and 15,000 messages (more
# than 10,000 match, which capped totals need), a 1,200-customer tie block; scale 0.5: 6,000
# customers, a 600-customer tie block, still larger than a page of 500, which is all shuffled
# ties and partial answers need. Capped totals read only the streams above 10,000.
MODES = {
    "replicas": ({"replicas": 3}, 0.5, STREAMS),
    "capped totals": ({"track_total_hits": 10_000}, 1.0, ("customers", "messages")),
    "partial answers": ({"timed_out_rate": 0.05}, 0.5, STREAMS),
    "all at once": (
        {"replicas": 3, "track_total_hits": 10_000, "timed_out_rate": 0.05},
        1.0,
        ("customers",),
    ),
}


@pytest.mark.parametrize("mode", MODES)
def test_full_sync_equals_the_ground_truth(mode, tmp_path):
    options, scale, streams = MODES[mode]
    with Sandbox(seed=31, scale=scale, **UNLIMITED, **options) as sb:
        truth = ground_truth(sb)
        run = run_tap(tmp_path, sb.base_url, sb.token, catalog=selected_catalog(*streams))
    assert run.returncode == 0, run.stderr[-2000:]
    for stream in streams:
        assert set(run.ids(stream)) == expected_ids(truth, stream), stream
        assert max(Counter(run.ids(stream)).values()) == 1, stream  # once per run
    if "track_total_hits" in options:  # every stream read is capped: more than 10,000 match
        assert all(len(expected_ids(truth, s)) > 10_000 for s in streams)
    rows = [r for r in truth["streams"]["customers"] if not (r["deleted"] or r["archived"])]
    assert max(Counter(r["updatedAt"] for r in rows).values()) > 500  # ties beyond a page


def test_kill_and_resume_under_shuffled_ties_loses_nothing(tmp_path):
    with Sandbox(seed=32, scale=0.2, replicas=3, **UNLIMITED) as sb:
        truth = ground_truth(sb)
        catalog = selected_catalog(*STREAMS)
        clean = run_tap(tmp_path / "clean", sb.base_url, sb.token, catalog=catalog)
        assert clean.returncode == 0, clean.stderr[-2000:]
        lines = len(clean.messages)
        for trial, kill_at in enumerate((lines // 7, lines // 3, lines // 2, 4 * lines // 5)):
            killed = run_tap_killed(
                tmp_path / f"k{trial}", sb.base_url, sb.token, kill_at, catalog=catalog
            )
            resumed = run_tap(
                tmp_path / f"r{trial}", sb.base_url, sb.token, catalog=catalog, state=killed.state
            )
            assert resumed.returncode == 0, resumed.stderr[-2000:]
            for stream in STREAMS:
                emitted = set(killed.ids(stream)) | set(resumed.ids(stream))
                assert expected_ids(truth, stream) <= emitted, (trial, stream)
