"""Ten lines of a notebook: a rate, a link, a scenario and a figure through the public API alone.

The backend is set to one a notebook might use before the lines run, and must be the same after: the
figure comes back as a Figure, with no backend switched and no pyplot state left behind.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[1]


def test_ten_lines_of_a_notebook(tmp_path: Path) -> None:
    previous = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        import openqci

        rate = openqci.secret_key_rate("gys2004", 50.0)
        report = openqci.run_link("lim2014", 25.0, duration_s=0.05, block_bits=1 << 16, rng=1)
        scenario = openqci.load_scenario(ROOT / "scenarios" / "line5.yaml")
        supply = openqci.expected_supply(scenario)
        sweep = openqci.secret_key_rate("gys2004", np.linspace(0.0, 150.0, 151))
        figure = openqci.plot_rate_versus_distance(sweep, tmp_path / "rate.png")

        assert matplotlib.get_backend() == "svg"
        assert "matplotlib.pyplot" not in sys.modules or not sys.modules["matplotlib.pyplot"].get_fignums()
    finally:
        matplotlib.use(previous)
    assert isinstance(figure, Figure)
    assert float(rate.secret_key_rate_bps) > 0
    assert report.final_key_bits > 0
    assert report.keys_identical
    assert [s.link for s in supply] == [link.name for link in scenario.links]
    assert (tmp_path / "rate.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
