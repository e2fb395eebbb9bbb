"""fastprob: Numba-compiled, parallel kernels for Gaussian and Gaussian-mixture probability.

Public functions validate and coerce their input, then call one kernel from
:mod:`fastprob.kernels`.
"""
from .datasets import load_faithful
from .gaussian import (
    CholeskyFactors,
    cholesky,
    cov_from_factor,
    gaussian_nll,
    mvn_fit,
    mvn_logpdf,
    mvn_sample,
    normal_fit,
    normal_logpdf,
)

__version__ = "0.1.0"

__all__ = [
    "CholeskyFactors",
    "cholesky",
    "cov_from_factor",
    "gaussian_nll",
    "load_faithful",
    "mvn_fit",
    "mvn_logpdf",
    "mvn_sample",
    "normal_fit",
    "normal_logpdf",
]
