"""``python -m voxkv_async.cli``: the ``voxkv`` command."""

import sys

from . import main

sys.exit(main())
