"""Run singer-io tap-kustomer 1.1.0 against a local server (the benchmark's sandbox).

1.1.0 hard-codes ``https://api.kustomerapp.com/v1`` in ``KustomerClient.__init__``; every URL it
requests is built from the client's ``base_url`` attribute, so this wrapper sets that attribute
after the original constructor ran and changes nothing else. The root (without ``/v1``) comes
from ``KUSTOMER_BASE_URL``. Run it with the 1.1.0 venv's python and 1.1.0's usual arguments.
"""

from __future__ import annotations

import os
import sys

import tap_kustomer  # type: ignore[import-not-found]  # 1.1.0, from its own venv
from tap_kustomer.client import KustomerClient  # type: ignore[import-not-found]

_original_init = KustomerClient.__init__


def _local_init(self: KustomerClient, *args: object, **kwargs: object) -> None:
    _original_init(self, *args, **kwargs)
    self.base_url = os.environ["KUSTOMER_BASE_URL"].rstrip("/") + "/v1"


if __name__ == "__main__":
    KustomerClient.__init__ = _local_init
    sys.exit(tap_kustomer.main())
