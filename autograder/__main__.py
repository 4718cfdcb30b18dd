"""``python -m autograder`` is the ``proximal`` command."""

import sys

from autograder.cli import main

sys.exit(main())
