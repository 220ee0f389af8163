import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import os
import tempfile

# Tests never touch the user's cache: every run gets a private, empty cache directory.
os.environ["LAYERSCOPE_CACHE_DIR"] = tempfile.mkdtemp(prefix="layerscope-test-cache-")
