"""``python -m fusionbench`` runs the command line."""

import sys

from fusionbench.cli import main

sys.exit(main())
