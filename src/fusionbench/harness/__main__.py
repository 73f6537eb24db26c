"""``python -m fusionbench.harness <lm_eval arguments>``: lm-eval with the fusionbench task folder."""

import sys

from fusionbench.harness.run import main

sys.exit(main())
