"""``python -m proximal`` is the ``proximal`` command."""

import sys

from proximal.cli import main

sys.exit(main())
