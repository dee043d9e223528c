"""The report: written offline, self-contained, and drawn by a real browser (headless Chromium)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from openqci.cli import main
from tests.support import require_service

ROOT = Path(__file__).resolve().parents[2]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plan")
    argv = [
        "openqci",
        "plan",
        str(ROOT / "scenarios" / "franceqci.yaml"),
        "--days",
        "0.25",
        "--out",
        str(out),
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("sys.argv", argv)
        main()
    return out


def test_the_report_and_metrics_are_written_and_fetch_nothing(report: Path) -> None:
    page = (report / "report.html").read_text(encoding="utf-8")
    metrics = json.loads((report / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["totals"]["demands"] == 9
    assert {"demands", "links", "bottlenecks", "failures", "totals"} <= set(metrics)
    # no external resource of any kind: every src and href is inline data or an in-page anchor
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", page)
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page
    assert page.count('class="country"') > 5
    assert page.count('class="link"') == 46
    assert page.count('<img class="plot"') == 2


def test_headless_chromium_draws_the_map_and_the_plots(report: Path) -> None:
    browser = _chromium()
    require_service("chromium", browser is not None, "no chromium on PATH (apt-get install chromium)")
    assert browser is not None
    page = (report / "report.html").resolve().as_uri()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000"]
    dom = subprocess.run(
        [browser, *flags, "--dump-dom", page], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    drawn = re.search(r'data-rendered="map:(\d+);plots:(\d+)"', dom)
    assert drawn is not None, "the page's script did not run"
    assert int(drawn.group(1)) > 50
    assert int(drawn.group(2)) == 2
