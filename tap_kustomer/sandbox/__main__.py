"""``python -m tap_kustomer.sandbox``."""

from tap_kustomer.sandbox import main

raise SystemExit(main())
