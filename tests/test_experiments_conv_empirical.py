"""The quick version of derivations/conv_sgntk.py: the empirical SG-NTK of finite conv networks
approaches the analytic one like channels^(-1/2), and the conv SG-NTK of erf_m tends to sign's."""

from __future__ import annotations

import itertools
import json
import runpy
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "derivations" / "conv_sgntk.py"


def test_quick_conv_convergence(tmp_path):
    pytest.importorskip("sklearn")  # the digits
    pytest.importorskip("matplotlib")
    metrics = runpy.run_path(str(SCRIPT))["main"](True, tmp_path)
    assert (tmp_path / "conv-empirical-quick.png").stat().st_size > 0
    assert json.loads((tmp_path / "conv-empirical-quick.json").read_text())["slope"] == metrics["slope"]
    errors = metrics["error"]["3"]
    assert all(b < a for a, b in itertools.pairwise(errors))
    assert -0.8 < metrics["empirical_slope"] < -0.25
    distance = list(metrics["sign_distance"].values())
    assert all(b < a for a, b in itertools.pairwise(distance)) and distance[-1] < 0.05
    assert np.isfinite(metrics["seconds"])
