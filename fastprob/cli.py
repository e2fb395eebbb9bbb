"""Command-line interface: ``fastprob demo`` (more sub-commands come with later features)."""
import argparse
import sys
import time

import numpy as np


def _demo(args):
    import fastprob

    t0 = time.perf_counter()
    X = fastprob.load_faithful()
    mean, cov = fastprob.mvn_fit(X)
    loglik = fastprob.mvn_logpdf(X, mean, cov)
    elapsed = time.perf_counter() - t0
    np.set_printoptions(precision=4, suppress=True)
    print("Old Faithful geyser data (bundled): 272 eruptions x [eruptions (min), waiting (min)]")
    print("Single Gaussian, maximum-likelihood fit (fastprob.mvn_fit):")
    print(f"  mean       = {mean}")
    print("  covariance =\n" + "\n".join("    " + line for line in str(cov).splitlines()))
    print(f"  average log-likelihood = {loglik.mean():.6f}  (total {loglik.sum():.3f})")
    print(f"done in {elapsed:.2f} s (first run includes compiling the kernels; later runs load them from the cache)")
    return 0


def build_parser():
    """The argparse parser of the ``fastprob`` command."""
    parser = argparse.ArgumentParser(
        prog="fastprob",
        description="Fast Gaussian and Gaussian-mixture probability kernels.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="fit a Gaussian to the bundled Old Faithful data and print the result",
        description="Fit a single Gaussian by maximum likelihood to the bundled Old Faithful "
        "data and print its mean, covariance and average log-likelihood.",
    )
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None):
    """Entry point of the ``fastprob`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.func(args)
    except BrokenPipeError:  # e.g. `fastprob demo | head`: stop quietly like other CLIs
        sys.stderr.close()
        return 0
