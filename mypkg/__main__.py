"""``python -m mypkg`` is ``mypkg-supervise``."""

import sys

from mypkg.cli import main

sys.exit(main())
