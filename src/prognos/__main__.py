"""``python -m prognos`` is the ``prognos`` command."""

import sys

from prognos.cli import main

sys.exit(main())
