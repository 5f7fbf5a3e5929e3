"""`python -m fallback_router`: the command line (see `fallback_router._surfaces.cli`)."""

from ._surfaces.cli import main

raise SystemExit(main())
