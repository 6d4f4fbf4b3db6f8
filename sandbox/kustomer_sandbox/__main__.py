"""``python -m kustomer_sandbox``."""

from kustomer_sandbox import main

raise SystemExit(main())
