"""The demo's report in a real browser: headless Chromium opens it from disk and draws every figure.

The report has no JavaScript, so the check runs on a copy with a probe script appended: after the
load event it lists every image's decoded size, and ``--dump-dom`` hands the list back. A broken
image (naturalWidth 0) is planted in the copy too, so the probe is seen to catch one. The report
itself is then screenshotted: the picture must be no blank page and hold the curves' colours.
Set ``MIA_REPORT_SCREENSHOT=<png>`` to keep the screenshot.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)",
)

FLAGS = [
    "--headless",
    "--disable-gpu",
    "--no-sandbox",
    "--hide-scrollbars",
    "--run-all-compositor-stages-before-draw",
    "--virtual-time-budget=10000",
]
PROBE = """<img id="planted-broken" src="data:image/png;base64,iVBORw0KGgoAAAAbroken" alt="planted">
<script>
window.addEventListener("load", function () {
  var out = Array.prototype.slice.call(document.images).map(function (i) {
    return [i.id || i.parentNode.id, i.complete, i.naturalWidth, i.naturalHeight];
  });
  var p = document.createElement("pre"); p.id = "probe"; p.textContent = JSON.stringify(out);
  document.body.appendChild(p);
});
</script>
"""


def chromium(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, *args], capture_output=True, text=True, timeout=timeout)


def test_chromium_decodes_every_figure(demo_run, tmp_path):
    folder, _ = demo_run
    page = (folder / "report.html").read_text()
    assert "<script" not in page
    expected = re.findall(r'<figure id="([^"]+)"><img src="data:image/png;base64,', page)
    assert len(expected) == 3 * 4  # per scenario: validation, dev and final ROC, and the histograms
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "</body>"))
    res = chromium("--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="probe">(.*?)</pre>', res.stdout, re.S)
    assert found, f"the probe did not run: {res.stderr[-2000:]}"
    images = {name: (done, w, h) for name, done, w, h in json.loads(found.group(1).replace("&quot;", '"'))}
    assert images.pop("planted-broken")[1] == 0  # the probe sees a broken image
    assert sorted(images) == sorted(expected)
    assert all(done and w >= 800 and h >= 300 for done, w, h in images.values()), images


def test_screenshot_shows_the_figures(demo_run, tmp_path):
    from PIL import Image

    folder, _ = demo_run
    shot = Path(os.environ.get("MIA_REPORT_SCREENSHOT") or tmp_path / "report.png")
    shot.parent.mkdir(parents=True, exist_ok=True)
    res = chromium(f"--screenshot={shot}", "--window-size=1200,3000", (folder / "report.html").as_uri())
    assert shot.is_file(), res.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(np.int64)
    assert pixels.shape == (3000, 1200, 3)
    assert (pixels.min(axis=2) < 235).mean() > 0.03  # text, tables and plots, not a blank page

    colourful = (pixels.max(axis=2) - pixels.min(axis=2) > 80).mean()  # the page's own CSS is greys only
    assert colourful > 1e-3, "no plotted curve on the page"
