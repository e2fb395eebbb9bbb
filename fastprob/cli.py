"""Command-line interface: ``fastprob demo``, ``fastprob fit``, ``fastprob compile`` and ``fastprob bench``.

Exit status: 0 on success, 1 when the work fails (unreadable or invalid data, a
fit that fails), 2 for usage errors (bad options, including an output folder
that is missing or cannot be written, found before any work).  Errors are one
line on stderr, ``fastprob: error: ...``, never a traceback.  Every output file
is written to a temporary file and renamed into place when complete
(:mod:`fastprob._files`).
"""
import argparse
import atexit
import gc
import importlib
import math
import pathlib
import sys
import time
import warnings
from collections.abc import Sequence

import numpy as np

from . import io
from ._files import atomic_write, check_writable_folder
from ._validation import FLOAT_DTYPES
from .mixture import COVARIANCE_TYPES

EXIT_STATUS = ("exit status: 0 success, 1 failure (unreadable or invalid data, failed fit), 2 usage error "
               "(including an output folder that is missing or not writable)")
#: The dtypes the kernels compute in, by name, widest (the default) first.
DTYPES = tuple(np.dtype(t).name for t in sorted(FLOAT_DTYPES, key=lambda t: -np.dtype(t).itemsize))


class CLIError(Exception):
    """A user-facing error: its message goes to stderr as ``fastprob: error: ...``, then exit ``status``."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


def _out_dir(args, writes=True):
    """The output folder, created if missing and, if the command ``writes``, checked to be writable.

    Checked before any work: a read-only folder failed only after every K had been fitted.
    """
    out = pathlib.Path(args.out)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out}: exists and is not a directory", 2)
    try:
        out.mkdir(parents=True, exist_ok=True)
        if writes:
            check_writable_folder(out)
    except OSError as exc:
        raise CLIError(f"--out {out}: cannot write files there ({exc.strerror or exc})", 2) from None
    return out


def _matrix(a, indent="    "):
    return "\n".join((indent + line).rstrip() for line in np.array2string(np.asarray(a), precision=4,
                                                                   suppress_small=True).splitlines())


class _LibraryChoices(Sequence):
    """A library's tuple of choices, imported only when argparse reads it (to check a value or show help).

    ``fastprob.estimator`` imports scikit-learn, which takes longer than all the
    rest of a ``fastprob --help`` or ``fastprob compile`` start; building the
    parser must not pay for it.
    """

    def __init__(self, module, name):
        self.module, self.name = module, name

    def _values(self):
        return getattr(importlib.import_module(self.module, __package__), self.name)

    def __getitem__(self, i):
        return self._values()[i]

    def __len__(self):
        return len(self._values())


def _set_threads(n):
    if n is None:
        return
    import numba

    top = numba.config.NUMBA_NUM_THREADS
    if not 1 <= n <= top:
        raise CLIError(f"--threads must be between 1 and {top} (NUMBA_NUM_THREADS); got {n}", 2)
    from .threads import set_num_threads

    set_num_threads(n)


# --------------------------------------------------------------------------- #
# fastprob demo
# --------------------------------------------------------------------------- #
def _demo(args):
    import fastprob

    t0 = time.perf_counter()
    out = _out_dir(args, writes=not args.no_figure)
    X = fastprob.load_faithful()
    n, d = X.shape
    print(f"Old Faithful geyser data (bundled): {n} eruptions x [eruptions (min), waiting (min)]")
    mean, cov = fastprob.mvn_fit(X)
    ll1 = float(fastprob.mvn_logpdf(X, mean, cov).sum())
    bic1 = -2 * ll1 + (d + d * (d + 1) // 2) * math.log(n)
    print("\nK = 1: a single Gaussian (closed-form maximum likelihood, fastprob.mvn_fit)")
    print("  weights     = [1.]")
    print(f"  means       =\n{_matrix(mean[None])}")
    print(f"  covariances =\n{_matrix(cov[None])}")
    print(f"  log-likelihood = {ll1:.3f}  (average log-likelihood = {ll1 / n:.6f})")
    print(f"  BIC = {bic1:.2f}")

    gm = fastprob.GaussianMixture(2, covariance_type="full", random_state=0).fit(X)
    ll2 = float(gm.score(X) * n)
    bic2 = gm.bic(X)
    print(f"\nK = 2: Gaussian mixture, full covariances (fastprob.GaussianMixture, EM, "
          f"{gm.n_iter_} iterations, {'converged' if gm.converged_ else 'not converged'})")
    print(f"  weights     = {np.array2string(gm.weights_, precision=4)}")
    print(f"  means       =\n{_matrix(gm.means_)}")
    print(f"  covariances =\n{_matrix(gm.covariances_)}")
    print(f"  log-likelihood = {ll2:.3f}  (average log-likelihood = {ll2 / n:.6f})")
    print(f"  BIC = {bic2:.2f}")
    best = 1 if bic1 <= bic2 else 2
    print(f"\nchosen by BIC (lower is better): K = {best}  ({min(bic1, bic2):.2f} vs {max(bic1, bic2):.2f})")

    if args.no_figure:
        print("figure: not written (--no-figure)")
    else:
        from . import plot

        path = out / "faithful.png"
        try:
            plot.faithful_figure(X, single=(mean, cov), mixture=gm, path=path)
        except ImportError as exc:
            print(f"figure: not written; {exc}")
        else:
            print(f"figure: {path.resolve()}")
    print(f"done in {time.perf_counter() - t0:.2f} s (the first run compiles the kernels; later runs load "
          "them from the cache)")
    return 0


# --------------------------------------------------------------------------- #
# fastprob fit
# --------------------------------------------------------------------------- #

def _write_predictions(path, gm, X, dtype, labels, responsibilities):
    """Write labels and/or responsibilities of each row of X as CSV, chunk by chunk.

    One pass of the scores kernel per chunk gives both outputs; only one
    chunk's responsibilities exist at a time, and a memmap's pages are
    released after each chunk (a 10-million-row file is never in memory whole).
    """
    from .mixture import score

    comps = gm._components()
    K = gm.n_components
    header = (["label"] if labels else []) + ([f"p{k}" for k in range(K)] if responsibilities else [])
    line = ",".join((["%d"] if labels else []) + (["%.6g"] * K if responsibilities else [])) + "\n"
    with atomic_write(path, "w") as fh:  # complete or absent, even if the process is killed
        fh.write(",".join(header) + "\n")
        for _, chunk in io.row_chunks(X, dtype):
            _, resp, label = score(gm._validate_X(chunk), comps, resp=responsibilities, labels=labels)
            cols = ([label[:, None].astype(np.float64)] if labels else []) + ([resp] if responsibilities else [])
            table = np.hstack(cols)
            # np.savetxt's text, formatted by one %-operation per ~100 000 values rather than one per
            # line (twice as fast; the CSV text is most of a large file's --labels time)
            step = max(1, 100_000 // table.shape[1])
            for r0 in range(0, len(table), step):
                block = table[r0:r0 + step]
                fh.write((line * len(block)) % tuple(block.ravel().tolist()))


def parse_features(text):
    """``d``, a range ``A-B`` or a comma-separated list of both -> sorted numbers of features."""
    values = set()
    for part in text.split(","):
        try:
            values.update(parse_components(part.strip()))
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"expected numbers of features such as 16, 1-64 or 2,5-8, got {text!r}") from None
    return sorted(values)


def _compile(args):
    from ._warmup import compile as build

    try:
        build(args.dtype, args.features, args.covariance_type, processes=args.processes, verbose=not args.quiet,
              missing=args.missing, grouped=args.grouped)
    except (RuntimeError, MemoryError) as exc:
        raise CLIError(str(exc).splitlines()[0] or type(exc).__name__) from None
    return 0


def parse_components(text):
    """``K`` or a range ``A-B`` (inclusive) -> list of component counts."""
    try:
        if "-" in text:
            a, b = (int(s) for s in text.split("-", 1))
        else:
            a = b = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected K or a range A-B of positive integers, got {text!r}") from None
    if a < 1 or b < a:
        raise argparse.ArgumentTypeError(f"expected 1 <= A <= B, got {text!r}")
    return list(range(a, b + 1))


class _Progress:
    """EM progress (iteration, lower bound, Δ, time) on stderr for long fits.

    The table starts once a fit has run ``after`` seconds (at once with
    ``--verbose``); iteration lines then come at most every ``every`` seconds.
    Once it has started it has every initialisation's last iteration, also of
    those that ended before it started: every K of a range is in the table,
    not only those that happened to be slow.  The candidates and their
    initialisations run together (their iterations interleave); each line's
    time is from the start of its own initialisation.
    """

    def __init__(self, verbose, quiet, after=1.0, every=0.5):
        self.verbose, self.quiet, self.after, self.every = verbose, quiet, after, every
        self.header = False
        self.runs = {}  # (K, covariance type, init) -> [start, (progress, seconds) of its last unprinted iteration]
        self.last = None
        self.finished = []  # last iterations of initialisations that ended before the table started

    def __call__(self, p):
        """The estimator's ``callback``: ``p`` is a fastprob.estimator.FitProgress."""
        now = time.perf_counter()
        key = (p.n_components, p.covariance_type, p.init)
        if p.event == "init_begin" or key not in self.runs:
            self.runs[key] = [now, None]
            self.last = now
        run = self.runs[key]
        if self.quiet:
            return
        if p.event == "iteration":
            run[1] = (p, now - run[0])
            if self.verbose or (now - run[0] >= self.after and now - self.last >= self.every):
                self.last = now
                self._start()
                self._line(*run[1])
                run[1] = None
        elif p.event == "init_end" and run[1] is not None:
            if self.header:
                self._line(*run[1])
            else:
                self.finished.append(run[1])
            run[1] = None

    def _start(self):
        if self.header:
            return
        print(f"{'K':>3} {'init':>4} {'iter':>5} {'lower bound':>14} {'Δ':>11} {'time':>8}", file=sys.stderr)
        self.header = True
        for line in self.finished:
            self._line(*line)
        self.finished = []

    @staticmethod
    def _line(p, seconds):
        print(f"{p.n_components:>3} {p.init:>4} {p.n_iter:>5} {p.lower_bound:14.6f} {p.change:11.3e} "
              f"{seconds:7.2f}s", file=sys.stderr, flush=True)


def _is_input(path, args):
    """True if ``path`` is the data file being read (writing there would destroy the data)."""
    try:
        return pathlib.Path(path).resolve() == pathlib.Path(args.file).resolve() or \
            (pathlib.Path(path).exists() and pathlib.Path(path).samefile(args.file))
    except OSError:
        return False


def _model_path(args, out):
    """Where the model goes, checked before any work (a missing folder failed only after the fit)."""
    stem = pathlib.Path(args.file).stem
    if args.model is not None and not args.model.strip():
        raise CLIError("--model: empty file name; give a file name, or leave --model out for "
                       f"{stem}.gmm.npz", 2)
    path = out / (args.model or f"{stem}.gmm.npz")
    if _is_input(path, args):
        raise CLIError(f"--model {args.model or path.name}: {path} is the data file being fitted; writing the "
                       "model there would destroy the data: give another file name", 2)
    labels = out / f"{stem}.labels.csv"
    if (args.labels or args.responsibilities) and (labels.is_dir() or _is_input(labels, args)):
        what = "a folder" if labels.is_dir() else "the data file being fitted"
        raise CLIError(f"--labels/--responsibilities: {labels} is {what}; write them to another folder with "
                       "--out", 2)
    if path.is_dir():
        raise CLIError(f"--model {args.model or path.name}: {path} is a folder; give a file name", 2)
    try:
        check_writable_folder(path.parent)
    except FileNotFoundError:
        raise CLIError(f"--model {args.model}: the folder {path.parent} does not exist; create it first", 2) from None
    except OSError as exc:
        raise CLIError(f"--model {args.model}: cannot write files in {path.parent} "
                       f"({exc.strerror or exc})", 2) from None
    return path


def _fit(args):
    t_start = time.perf_counter()
    ks = args.n_components
    _set_threads(args.threads)
    out = _out_dir(args)
    model_path = _model_path(args, out)
    try:
        X, names = io.load_data(args.file, args.columns)
    except io.ColumnSelectionError as exc:
        raise CLIError(exc.for_option("--columns"), 2) from None
    except io.NonNumericColumnError as exc:
        raise CLIError(exc.for_option("--columns")) from None
    except (ValueError, OSError) as exc:
        raise CLIError(str(exc)) from None
    n, d = X.shape
    if n < max(2, ks[0]):  # (in a range, a K above the rows is a failed row of the table)
        need = max(2, ks[0])
        raise CLIError(f"{args.file}: too few rows: {n} row{'s' * (n != 1)}, but fitting "
                       f"{ks[0]} component{'s' * (ks[0] != 1)} needs at least {need}")
    # A memory-mapped .npy is fitted out of core: as it is when it has the requested dtype, else
    # as chunks converted one at a time (a float32 file fitted in float64 would otherwise need a
    # float64 copy twice the file's size).
    if isinstance(X, np.memmap):
        data = X if X.dtype == args.dtype else lambda: (chunk for _, chunk in io.row_chunks(X, args.dtype))
    else:
        X = data = np.asarray(X, dtype=args.dtype)
    print(f"data: {args.file}: {n} rows x {d} columns"
          + (f" ({', '.join(names)})" if names else "") + f", {args.dtype}")
    from .selection import select_mixture

    progress = _Progress(args.verbose, args.quiet)
    t0 = time.perf_counter()
    # Every K in one go: each pass over the data advances all the candidates' EM runs.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            gm, table = select_mixture(data, n_components=ks, covariance_type=args.covariance_type,
                                       n_init=args.n_init, callback=progress, max_iter=args.max_iter, tol=args.tol,
                                       reg_covar=args.reg_covar, init_params=args.init,
                                       random_state=args.random_state)
        except (ValueError, np.linalg.LinAlgError) as exc:
            raise CLIError(f"fit failed: {exc}") from None
    elapsed = time.perf_counter() - t0
    for w in caught:
        print(f"fastprob: warning: {w.message}", file=sys.stderr)
    if len(table) > 1:
        print(f"\n{'K':>3} {'log-likelihood':>15} {'BIC':>12} {'iterations':>10} {'converged':>9}")
        for row in table:
            if row["error"]:
                print(f"{row['n_components']:>3} failed: {row['error']}")
                continue
            print(f"{row['n_components']:>3} {row['log_likelihood']:15.3f} {row['bic']:12.2f} "
                  f"{row['n_iter']:>10} {str(row['converged']):>9}")
    chosen = table[[m is gm for m in table["model"]]][0]
    K, loglik, bic, aic = gm.n_components, float(chosen["log_likelihood"]), float(chosen["bic"]), float(chosen["aic"])
    choice = f" (chosen by BIC among K = {ks[0]}..{ks[-1]})" if len(table) > 1 else ""
    print(f"\nGaussian mixture, K = {K}{choice}, covariance_type = {args.covariance_type!r}")
    print(f"  EM: {gm.n_iter_} iterations, {'converged' if gm.converged_ else 'NOT converged'} "
          f"(tol {args.tol:g}), n_init {args.n_init}; all candidates {elapsed:.2f} s")
    print(f"  weights     = {np.array2string(gm.weights_, precision=4)}")
    print(f"  means       =\n{_matrix(gm.means_)}")
    if d <= 4:
        print(f"  covariances =\n{_matrix(gm.covariances_)}")
    print(f"  total log-likelihood = {loglik:.4f}  (per sample {loglik / n:.6f})")
    print(f"  BIC = {bic:.4f}  AIC = {aic:.4f}")

    stem = pathlib.Path(args.file).stem
    try:
        gm.save(model_path)
        written = [("model", model_path)]
        if args.labels or args.responsibilities:
            pred_path = out / f"{stem}.labels.csv"
            _write_predictions(pred_path, gm, X, args.dtype, args.labels, args.responsibilities)
            written.append(("labels" if not args.responsibilities else
                            "labels and responsibilities" if args.labels else "responsibilities", pred_path))
    except OSError as exc:
        raise CLIError(f"cannot write the output: {exc}") from None
    for what, path in written:
        print(f"{what}: {path}")
    print(f"done in {time.perf_counter() - t_start:.2f} s")
    return 0


# --------------------------------------------------------------------------- #
# fastprob bench
# --------------------------------------------------------------------------- #
def _bench(args):
    from ._bench import report, runner
    from ._bench.registry import REGISTRY

    if args.list:
        for c in REGISTRY:
            print(f"{c.name:32s} {c.family:12s} test N={c.sizes['test']:<8,} bench N={c.sizes['bench']:<11,}"
                  f"{' quick' if c.quick else ''}".rstrip())
        return 0
    _set_threads(args.threads)
    selected = runner.select(args.filter, quick=args.quick)
    if not selected:
        raise CLIError(f"--filter {' '.join(args.filter)}: matches no comparison; "
                       f"`fastprob bench --list` shows them", 2)
    out = _out_dir(args)
    result = runner.run(selected, quick=args.quick, plot=not args.no_plot, rounds=args.rounds,
                        progress=None if args.quiet else sys.stderr)
    md, pngs = report.write(result, out)
    print(f"report: {md}")
    for png in pngs:
        print(f"figure: {png}")
    if not pngs:
        print(f"figures: not written; {result['plot_note']}")
    return 0


# --------------------------------------------------------------------------- #
# Parser
# --------------------------------------------------------------------------- #
def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {2**32 - 1}, got {text!r}") from None
    if not 0 <= value < 2**32:  # numpy's RandomState seeds
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {2**32 - 1}, got {text!r}")
    return value


def _non_negative_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def _add_common(p, threads=True):
    p.add_argument("--out", metavar="DIR", default=".", help="directory for the outputs (default: the current one)")
    if threads:
        p.add_argument("--threads", type=_positive_int, metavar="N",
                       help="number of Numba threads (default: all, NUMBA_NUM_THREADS)")


def build_parser():
    """The argparse parser of the ``fastprob`` command."""
    from ._bench.registry import REGISTRY
    from ._bench.runner import QUICK_ROUNDS

    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="fastprob", formatter_class=fmt,
        description="Fast Gaussian and Gaussian-mixture probability kernels.",
        epilog="Run `fastprob COMMAND --help` for the options of each command.\n" + EXIT_STATUS,
    )
    parser.add_argument("--version", action="version", version=f"fastprob {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", formatter_class=fmt,
        help="fit 1- and 2-component Gaussian mixtures to Old Faithful and draw them",
        description="Fit a single Gaussian and a 2-component full-covariance Gaussian mixture to the "
        "bundled Old Faithful data, print their parameters, log-likelihood and BIC and the model BIC "
        "chooses, and write the figure faithful.png (needs matplotlib: pip install 'fastprob[plot]').",
        epilog="example: fastprob demo --out figures/\n" + EXIT_STATUS,
    )
    _add_common(demo, threads=False)
    demo.add_argument("--no-figure", action="store_true", help="do not write faithful.png")
    demo.set_defaults(func=_demo)

    fit = sub.add_parser(
        "fit", formatter_class=fmt,
        help="fit a Gaussian mixture to a CSV or .npy file",
        description="Fit a Gaussian mixture by EM to the rows of FILE (CSV with an optional header row, "
        "or a 2-D .npy array), print a summary with the total log-likelihood and BIC, and write the model "
        "(FILE-stem.gmm.npz, load it with fastprob.GaussianMixture.load).  With a range of component "
        "counts every K is fitted and the lowest BIC wins.  Long fits show their progress on stderr.",
        epilog="examples:\n  fastprob fit data.csv --n-components 3\n"
        "  fastprob fit data.npy --n-components 1-6 --covariance-type diag --labels --out results/\n"
        + EXIT_STATUS,
    )
    fit.add_argument("file", metavar="FILE", help="CSV (header optional) or .npy file, one sample per row")
    fit.add_argument("-k", "--n-components", type=parse_components, default=[1], metavar="K|A-B",
                     help="number of components, or an inclusive range A-B to choose from by BIC (default: 1)")
    fit.add_argument("--covariance-type", choices=COVARIANCE_TYPES, default="full",
                     help="covariance parameterisation (default: full)")
    fit.add_argument("--max-iter", type=_positive_int, default=100, metavar="N",
                     help="maximum EM iterations per initialisation (default: 100)")
    fit.add_argument("--tol", type=_non_negative_float, default=1e-3,
                     help="convergence threshold on the change of the mean log-likelihood (default: 1e-3)")
    fit.add_argument("--n-init", type=_positive_int, default=1, metavar="N",
                     help="initialisations; the best is kept (default: 1)")
    fit.add_argument("--init", choices=_LibraryChoices(".estimator", "INIT_PARAMS"), default="kmeans",
                     metavar="METHOD", help="initialisation: %(choices)s (default: %(default)s)")
    fit.add_argument("--reg-covar", type=_non_negative_float, default=1e-6,
                     help="added to covariance diagonals (default: 1e-6)")
    fit.add_argument("--random-state", type=_seed, default=0, metavar="SEED",
                     help="seed of the initialisation, 0 to 2**32-1 (default: 0, so runs are reproducible)")
    fit.add_argument("--dtype", choices=DTYPES, default="float64",
                     help="precision of the data during the fit (default: float64)")
    fit.add_argument("--columns", metavar="LIST",
                     help="comma-separated columns to use, each once: 1-based numbers or header names "
                     "(default: all)")
    fit.add_argument("--model", metavar="NAME",
                     help="file name of the model in --out, in an existing folder (default: FILE-stem.gmm.npz)")
    fit.add_argument("--labels", action="store_true",
                     help="also write the most probable component of each row to FILE-stem.labels.csv")
    fit.add_argument("--responsibilities", action="store_true",
                     help="also write P(component | row) to FILE-stem.labels.csv")
    _add_common(fit)
    noise = fit.add_mutually_exclusive_group()
    noise.add_argument("-v", "--verbose", action="store_true", help="show every EM iteration")
    noise.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    fit.set_defaults(func=_fit)

    comp = sub.add_parser(
        "compile", formatter_class=fmt,
        help="build the kernels ahead of use (for images, clusters, notebooks)",
        description="Compile the kernels of the mixture and Gaussian functions for the chosen dtypes, "
        "numbers of features and covariance types into the disk cache, in several processes at once, so "
        "that later processes on this machine load them instead of compiling.  Kernels depend on the "
        "number of features only through five solvers (d = 1, 2, 3, 4 and every other d).",
        epilog="examples:\n  fastprob compile\n  fastprob compile --dtype float64 --features 2-16 "
        "--covariance-type full diag\n" + EXIT_STATUS,
    )
    comp.add_argument("--dtype", nargs="+", choices=DTYPES, default=list(DTYPES),
                      help="dtypes of the data (default: both)")
    comp.add_argument("--features", type=parse_features, default=list(range(1, 65)), metavar="LIST",
                      help="numbers of features: d, A-B or a comma-separated list (default: 1-64)")
    comp.add_argument("--covariance-type", nargs="+", choices=COVARIANCE_TYPES, default=list(COVARIANCE_TYPES),
                      help="covariance types (default: all four)")
    comp.add_argument("--processes", type=_positive_int, metavar="N",
                      help="worker processes compiling side by side (default: the number of CPUs)")
    comp.add_argument("--missing", action="store_true",
                      help="also the kernels for data with missing values (missing='marginalize', impute)")
    comp.add_argument("--grouped", action="store_true", help="also fit_grouped's kernels (k-means, per-group EM)")
    comp.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    comp.set_defaults(func=_compile)

    bench = sub.add_parser(
        "bench", formatter_class=fmt,
        help="time fastprob against numpy / scipy / sklearn and write a report",
        description="Time fastprob and its references on the benchmark registry (the cases of benchmarks/) "
        "and write bench.md (per operation: median time, IQR, speed-up, accuracy vs the reference, compile "
        "time, timings whose IQR exceeds their median marked unreliable; a header with CPU, threads and "
        "versions), bench.json and one figure of time vs N per family of workloads: bench-gaussian.png, "
        "bench-mixture.png, bench-activations.png, bench-information.png.  The whole registry at the "
        "README's sizes takes about 15 minutes on 2 cores; --filter selects comparisons, and --quick runs "
        "in about a minute, compiling included.",
        epilog="examples:\n  fastprob bench --quick\n  fastprob bench --filter gmm_logpdf --filter em_iteration\n"
        + EXIT_STATUS,
    )
    quick = [c.sizes["test"] for c in REGISTRY if c.quick]
    bench.add_argument("--quick", action="store_true",
                       help=f"a representative subset ({len(quick)} float64 comparisons, every operation once or "
                       "twice; marked 'quick' in --list; --filter picks others), at the small 'test' sizes "
                       f"({min(quick):,}-{max(quick):,} rows), {QUICK_ROUNDS} rounds, time vs N at two smaller "
                       "sizes: about a minute")
    bench.add_argument("--filter", action="append", default=[], metavar="PREFIX",
                       help="only comparisons whose name starts with PREFIX (repeatable)")
    bench.add_argument("--rounds", type=_positive_int, metavar="N",
                       help="timed rounds per implementation (default: each comparison's own)")
    bench.add_argument("--no-plot", action="store_true", help="skip the time-vs-N runs and the figures")
    bench.add_argument("--list", action="store_true", help="list the comparisons and exit")
    bench.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    _add_common(bench)
    bench.set_defaults(func=_bench)
    return parser


def _version():
    from . import __version__

    return __version__


def skip_final_collections():
    """Let this command's process exit without re-scanning its heap (run as a command only).

    numba, scikit-learn, scipy and matplotlib leave ~250 000 long-lived objects;
    at exit CPython runs full collections over all of them and frees every
    module's cycles, 0.35-0.6 s of the demo's ~2.4 s (measured).  Freezing them
    from an atexit hook skips that work (as ``bin/spack`` does); atexit hooks,
    ``weakref.finalize`` callbacks and the flushing of stdout/stderr still run.
    Skipped are only ``__del__`` methods of objects still alive at exit, which
    Python does not promise to call, and the command opens no file it leaves to
    them.  Registered by the console script, never on ``import fastprob``: a
    library must not change how its host process ends.
    """
    atexit.register(gc.freeze)


def main(argv=None):
    """Entry point of the ``fastprob`` console script; returns the exit status."""
    if argv is None:
        skip_final_collections()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.func(args)
    except CLIError as exc:
        print(f"fastprob: error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("fastprob: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `fastprob demo | head`: stop quietly like other CLIs
        sys.stderr.close()
        return 0
