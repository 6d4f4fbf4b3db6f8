"""Integration fixtures: the package index (or a skip), and a small sandbox per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kustomer_sandbox import Sandbox

from tests.integration.tools import index_unreachable


@pytest.fixture(scope="session")
def package_index() -> None:
    """Skip (with the reason) only when the package index cannot be reached."""
    reason = index_unreachable()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """A few hundred records per search stream, every list stream whole, no rate limits."""
    with Sandbox(seed=11, scale=0.03, org_limit=10**6, search_limit=10**6) as sb:
        yield sb
