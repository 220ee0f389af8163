import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import atexit
import os
import shutil
import tempfile

import pytest

# Tests never touch the user's cache: every run gets a private, empty cache directory, removed
# when the run ends.
_CACHE = tempfile.mkdtemp(prefix="layerscope-test-cache-")
os.environ["LAYERSCOPE_CACHE_DIR"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)


@pytest.fixture
def spool_dir(tmp_path, monkeypatch):
    """A private temporary directory for the run's spooled copies, checked empty afterwards
    (`pytestmark = pytest.mark.usefixtures("spool_dir")` in a module that wants it)."""
    d = tmp_path / "spool"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    yield d
    assert list(d.iterdir()) == [], "a spooled archive was left behind"
