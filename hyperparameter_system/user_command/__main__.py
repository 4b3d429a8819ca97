"""``python -m hyperparameter_system.user_command``: see :mod:`hyperparameter_system.user_command.run`."""

import sys

from hyperparameter_system.user_command.run import main

sys.exit(main())
