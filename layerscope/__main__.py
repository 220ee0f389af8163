"""`python -m layerscope` runs the command line."""

import sys

from layerscope.cli import main

if __name__ == "__main__":  # not when a worker process's server imports the main module
    sys.exit(main())
