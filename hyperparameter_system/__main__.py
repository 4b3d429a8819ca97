"""``python -m hyperparameter_system`` is the same as ``hpsys``."""

import sys

from hyperparameter_system.experiment_runner import main

sys.exit(main())
