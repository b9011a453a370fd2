"""``python -m tools.plan_report``: the command line (``tools.plan_report.cli``)."""

import sys

from tools.plan_report.cli import main

sys.exit(main())
