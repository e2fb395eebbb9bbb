"""Packaging, configuration and the demo: the promises of the foundation."""
import importlib.metadata
import inspect
import pathlib
import shutil
import subprocess
import sys

import numba
import numpy as np
import pytest

import fastprob
from fastprob.kernels import (_config, elementwise, gaussian, grouped, information, kmeans, mathfn, missing, mixture,
                              moments, tiles)

KERNEL_MODULES = [gaussian, moments, mathfn, elementwise, information, mixture, tiles, missing, grouped, kmeans]


def test_kernels_ship_inside_the_fastprob_namespace():
    dist = importlib.metadata.distribution("fastprob")
    top_level = (dist.read_text("top_level.txt") or "fastprob").split()
    assert top_level == ["fastprob"]
    files = [str(f) for f in (dist.files or [])]
    assert not any(f.startswith("kernels/") for f in files)
    assert fastprob.kernels.__name__ == "fastprob.kernels"


def _dispatchers():
    for mod in KERNEL_MODULES:
        for name, obj in vars(mod).items():
            if isinstance(obj, _config.BlockKernel):
                yield f"{mod.__name__}.{name}", obj.kernel
            elif isinstance(obj, numba.core.registry.CPUDispatcher):
                yield f"{mod.__name__}.{name}", obj


def test_every_kernel_uses_the_config_flags():
    found = list(_dispatchers())
    assert len(found) >= 6
    allowed = {"contract", "reassoc", "nsz"}
    for name, disp in found:
        opts = disp.targetoptions
        assert opts["error_model"] == "numpy", name
        assert set(opts["fastmath"]) <= allowed, name
        assert not opts.get("parallel", False), name  # parallelism is Python threads (BlockKernel)
        assert (type(disp._cache).__name__ != "NullCache") == _config.CACHE, name


def test_no_kernel_module_sets_numba_flags_itself():
    for mod in KERNEL_MODULES:
        src = inspect.getsource(mod)
        for flag in ("fastmath=", "parallel=", "cache=", "error_model=", "nnan", "ninf", "@njit", "@jit"):
            assert flag not in src, f"{mod.__name__} sets {flag!r}; use kernels._config"


def test_faithful_is_bundled():
    X = fastprob.load_faithful()
    assert X.shape == (272, 2) and X.dtype == np.float64
    np.testing.assert_array_equal(X[0], [3.6, 79.0])
    path = pathlib.Path(fastprob.__file__).parent / "data" / "faithful.csv"
    assert path.is_file()


def _run(args, cwd):
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("where", ["elsewhere", "repository root"])
def test_demo_runs_and_prints_the_fit(tmp_path, where):
    # As the README runs it: the installed console script, from anywhere.
    cwd = tmp_path if where == "elsewhere" else pathlib.Path(__file__).resolve().parents[1]
    script = pathlib.Path(sys.executable).with_name("fastprob")
    proc = subprocess.run([str(script), "demo", "--out", str(tmp_path)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    X = fastprob.load_faithful()
    assert f"{X.mean(axis=0)[1]:.4f}" in out
    avg = np.mean(fastprob.mvn_logpdf(X, X.mean(axis=0), np.cov(X.T, bias=True)))
    assert f"average log-likelihood = {avg:.6f}" in out
    # the known 2-component MLE, and BIC picks it
    assert "log-likelihood = -1130.264" in out and "BIC = 2322.19" in out
    assert "chosen by BIC (lower is better): K = 2" in out
    figure = tmp_path / "faithful.png"
    assert f"figure: {figure.resolve()}" in out and figure.stat().st_size > 0


def test_an_uninstalled_checkout_says_how_to_install_it(tmp_path):
    # fastprob/ without kernels/ beside it (a checkout that Python finds before the installed
    # copy, e.g. `python -m fastprob` in the repository root of a non-editable install).
    shutil.copytree(pathlib.Path(fastprob.__file__).parent, tmp_path / "fastprob",
                    ignore=shutil.ignore_patterns("__pycache__", "kernels"))
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import fastprob"
    proc = subprocess.run([sys.executable, "-S", "-P", "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "a source checkout that is not installed" in proc.stderr
    assert "pip install -e ." in proc.stderr and "python -P" in proc.stderr


def test_cli_help_and_usage_errors():
    from fastprob.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert main([]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
