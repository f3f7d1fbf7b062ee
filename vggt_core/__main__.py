"""``python -m vggt_core``: the ``vggt-reconstruct`` command line."""
import sys

from .run.cli import main

sys.exit(main())
