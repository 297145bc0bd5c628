"""`python -m withdrawguard` is the `withdrawguard` command."""

import sys

from withdrawguard.cli import main

sys.exit(main())
