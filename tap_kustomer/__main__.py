"""Allow ``python -m tap_kustomer``."""

from tap_kustomer.cli import main

raise SystemExit(main())
