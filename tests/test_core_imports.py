"""The model never imports Textual: `import layerscope` and every figure work without a terminal."""

import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).parent / "fixtures" / "real" / "docker-archive.tar"


def test_model_and_report_import_no_textual():
    code = (
        "import sys, io, layerscope, layerscope.output.report, layerscope.insight.sharing, layerscope.insight.compare, "
        "layerscope.views.outline, layerscope.output.ci_rules\n"
        f"a = layerscope.open({str(DEMO)!r})\n"
        "img = a.images[0]\n"
        "img.hidden, img.dive, img.duplicate_bytes\n"
        "layerscope.output.report.write_report(io.StringIO(), a.images)\n"
        "assert not any(m == 'textual' or m.startswith('textual.') for m in sys.modules), 'textual'\n"
        "assert 'rich' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
