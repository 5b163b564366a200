"""``python -m oni_rl``: see ``oni_rl.cli``."""

from oni_rl.cli import main

raise SystemExit(main())
