"""kernelalg.optim: the optimisers and gradient clipping."""

from __future__ import annotations

import numpy as np
import pytest

from kernelalg.optim import SGD, AdaBelief, Adam, clip_by_norm


@pytest.mark.parametrize("opt", [SGD(0.1), Adam(0.05), AdaBelief(0.05), SGD(0.1, decay=0.999, clip=1.0)])
def test_optimisers_minimise_a_quadratic(opt):
    target = np.array([1.0, -2.0, 3.0])
    params = [np.zeros(3)]
    state = opt.init(params)
    for _ in range(500):
        params, state = opt.step(params, [2 * (params[0] - target)], state)
    np.testing.assert_allclose(params[0], target, atol=1e-2)


def test_clip_by_norm():
    grads = clip_by_norm([np.array([3.0, 4.0])], 1.0)
    assert np.linalg.norm(grads[0]) == pytest.approx(1.0)
    with pytest.raises(FloatingPointError):
        clip_by_norm([np.array([np.nan])], 1.0)
