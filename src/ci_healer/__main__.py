"""``python -m ci_healer`` runs the command line."""

from ci_healer.cli import main

raise SystemExit(main())
