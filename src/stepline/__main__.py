"""`python -m stepline`: the `stepline` command."""

import sys

from stepline.cli.main import main

sys.exit(main())
