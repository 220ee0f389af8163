"""`python -m layerscope.ui ARCHIVE...`: the UI alone (the full command line is `layerscope`)."""

import sys

from layerscope.ui.app import run

if __name__ == "__main__":
    sys.exit(run(sys.argv[1:], platform=None, verify=True, engine=None, image=None))
