"""The one optional dependency of tracking: scipy's assignment solver, imported on first use so
``import detector`` never needs it, and named in a one-line error when it is missing."""
from __future__ import annotations

import numpy as np

INSTALL = 'tracking needs scipy: pip install "cspdet[track]"'


def require_scipy():
    """scipy.optimize.linear_sum_assignment, or ImportError with the install line."""
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError as e:
        raise ImportError(INSTALL) from e
    return linear_sum_assignment


def linear_assignment(cost: np.ndarray, thresh: float) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost matching of cost [N, M] keeping pairs with cost <= ``thresh`` -> (rows, cols).

    Costs above the threshold are raised before solving, so no pair that will be dropped can push
    a valid pair out of the optimum (what lapjv's ``cost_limit`` does in ByteTrack).
    """
    solve = require_scipy()
    capped = np.where(cost > thresh, thresh + 1e4, cost)
    rows, cols = solve(capped)
    keep = cost[rows, cols] <= thresh
    return rows[keep], cols[keep]
