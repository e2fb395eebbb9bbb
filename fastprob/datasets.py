"""Data sets bundled with fastprob."""
from importlib import resources

import numpy as np

__all__ = ["load_faithful"]


def load_faithful():
    """The Old Faithful geyser data (R's ``faithful``), bundled with the package.

    272 eruptions of Old Faithful (Yellowstone): column 0 ``eruptions`` is the
    eruption time in minutes, column 1 ``waiting`` the waiting time to the next
    eruption in minutes.  Härdle (1991); Azzalini & Bowman (1990), Applied
    Statistics 39, 357-365.

    Returns
    -------
    ndarray, shape (272, 2), float64
    """
    with resources.files("fastprob").joinpath("data/faithful.csv").open("r") as fh:
        return np.loadtxt(fh, delimiter=",", skiprows=1)
