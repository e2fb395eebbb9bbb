"""fastprob: Numba-compiled, parallel kernels for Gaussian and Gaussian-mixture probability.

Public functions validate and coerce their input, then call one kernel from
:mod:`fastprob.kernels`.
"""
try:
    from .kernels import _gc_pause
except ModuleNotFoundError as exc:
    if exc.name != f"{__name__}.kernels":
        raise
    # kernels/ sits beside this folder in the repository and is installed as fastprob.kernels.
    raise ImportError(
        f"fastprob was imported from {__path__[0]}, a source checkout that is not installed, so its "
        "kernels (fastprob.kernels, the repository's kernels/ folder) are missing. Install the checkout "
        "(`pip install -e .` there), or start Python outside it (or with `python -P`) to use the "
        "installed copy."
    ) from None

# Importing numba and building the kernel modules allocates ~30 000 long-lived
# objects; without the pause each burst triggers a full collection (see _gc_pause).
with _gc_pause.paused():
    from .activations import (  # noqa: E402
        log_sigmoid,
        logit,
        relu,
        relu_grad,
        sigmoid,
        sigmoid_grad,
        softplus,
        tanh,
        tanh_grad,
    )
    from .datasets import load_faithful  # noqa: E402
    from .gaussian import (  # noqa: E402
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
    from .information import (  # noqa: E402
        binary_cross_entropy_with_logits,
        cross_entropy,
        cross_entropy_with_logits,
        entropy,
        gaussian_entropy,
        gaussian_kl,
        kl_divergence,
        logsumexp,
    )

    from .mixture import gmm_logpdf, gmm_responsibilities, gmm_sample  # noqa: E402
    from .threads import get_num_threads, set_num_threads  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "CholeskyFactors",
    "GaussianMixture",
    "cholesky",
    "cov_from_factor",
    "fit_grouped",
    "gaussian_nll",
    "get_num_threads",
    "gmm_logpdf",
    "gmm_responsibilities",
    "gmm_sample",
    "load_faithful",
    "mvn_fit",
    "mvn_logpdf",
    "mvn_sample",
    "normal_fit",
    "normal_logpdf",
    "select_mixture",
    "set_num_threads",
    # activations and information measures
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "cross_entropy_with_logits",
    "entropy",
    "gaussian_entropy",
    "gaussian_kl",
    "kl_divergence",
    "log_sigmoid",
    "logit",
    "logsumexp",
    "relu",
    "relu_grad",
    "sigmoid",
    "sigmoid_grad",
    "softplus",
    "tanh",
    "tanh_grad",
]


def __getattr__(name):
    # The estimator imports scikit-learn (~0.7 s); load it on first use so that
    # `import fastprob` stays fast for the functional API.
    if name == "GaussianMixture":
        from .estimator import GaussianMixture  # pauses the collector while it imports

        return GaussianMixture
    if name == "select_mixture":
        from .selection import select_mixture

        return select_mixture
    if name == "fit_grouped":  # loads scikit-learn on first call, as GaussianMixture
        from .grouped import fit_grouped

        return fit_grouped
    if name == "compile":  # not in __all__: `from fastprob import *` must not shadow the builtin
        from ._warmup import compile

        return compile
    raise AttributeError(f"module 'fastprob' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__) | {"compile"})
