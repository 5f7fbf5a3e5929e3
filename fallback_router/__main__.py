"""`python -m fallback_router`: the command line (see `fallback_router._cli`)."""

from ._cli import main

raise SystemExit(main())
