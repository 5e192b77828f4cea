"""``python -m voxkv_async``: the ``voxkv`` command."""

import sys

from .cli import main

sys.exit(main())
