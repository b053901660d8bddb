"""``python -m gdynbook`` runs the command line."""

import sys

from gdynbook.cli import main

sys.exit(main())
