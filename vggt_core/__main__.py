"""``python -m vggt_core``: the ``vggt-reconstruct`` command line."""
import sys

from .cli import main

sys.exit(main())
