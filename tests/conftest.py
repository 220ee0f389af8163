import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import atexit
import os
import shutil
import tempfile

# Tests never touch the user's cache: every run gets a private, empty cache directory, removed
# when the run ends.
_CACHE = tempfile.mkdtemp(prefix="layerscope-test-cache-")
os.environ["LAYERSCOPE_CACHE_DIR"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
