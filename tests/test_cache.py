"""The disk cache of compiled kernels (kernels/_cache.py): where it lives, when it is stale, who shares it."""
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import numba
import pytest

import fastprob
from fastprob.kernels import _cache

PACKAGE = pathlib.Path(fastprob.__file__).resolve().parent
KERNELS = pathlib.Path(fastprob.kernels.__path__[0]).resolve()

#: Fits a small mixture and scores it; prints the compiled fastprob kernels, the cache
#: folder and a digest of the results.
_PROBE = """
import hashlib, json, numpy as np, fastprob
from fastprob._warmup import BuildLog
from fastprob.kernels import _cache
X = np.random.default_rng(0).standard_normal((500, 3))
with BuildLog() as log:
    gm = fastprob.GaussianMixture(2, random_state=0).fit(X)
    ll = fastprob.gmm_logpdf(X, gm.weights_, gm.means_, gm.covariances_)
print(json.dumps({"built": len(log.kernels()), "cache": str(_cache.cache_dir()),
                  "result": hashlib.sha256(ll.tobytes()).hexdigest(), "ll0": float(ll[0])}))
"""


def _run(env=None, code=_PROBE, cwd=None, pythonpath=None):
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("FASTPROB_CACHE_DIR", "NUMBA_CACHE_DIR", "FASTPROB_NUMBA_CACHE")}
    full_env.update(env or {})
    args = [sys.executable, "-c", code]
    if pythonpath:
        full_env["PYTHONPATH"] = str(pythonpath)
    else:
        args.insert(1, "-P")  # the installed fastprob, not the working directory's
    out = subprocess.run(args, capture_output=True, text=True, env=full_env, cwd=cwd or None, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _snapshot(folder):
    """Every file under ``folder`` but Python's own bytecode, with size and mtime."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*") if p.is_file() and p.suffix != ".pyc"}


def test_folder_is_named_by_numba_version_and_kernel_sources(tmp_path):
    got = _run({"FASTPROB_CACHE_DIR": str(tmp_path)})
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(KERNELS.glob("*.py")))).hexdigest()
    assert pathlib.Path(got["cache"]) == tmp_path / f"{numba.__version__}-{digest[:16]}"
    assert got["built"] > 0 and any(pathlib.Path(got["cache"]).glob("*.nbi"))
    again = _run({"FASTPROB_CACHE_DIR": str(tmp_path)})
    assert again["built"] == 0 and again["result"] == got["result"]


def test_numba_cache_dir_is_honoured_in_a_subfolder(tmp_path):
    got = _run({"NUMBA_CACHE_DIR": str(tmp_path)})
    assert pathlib.Path(got["cache"]).parent == tmp_path / "fastprob"


def test_nothing_is_written_into_the_installed_package(tmp_path):
    before = _snapshot(PACKAGE), _snapshot(KERNELS)
    got = _run({"FASTPROB_CACHE_DIR": str(tmp_path / "cache")})
    assert got["built"] > 0  # compiled, and wrote its cache elsewhere
    assert (_snapshot(PACKAGE), _snapshot(KERNELS)) == before


def test_unwritable_roots_fall_back_to_the_next(tmp_path):
    # A root that cannot be a folder (a file is in the way: fails even for root) is
    # skipped; with the user's cache folder unusable too, the temporary directory is used.
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    got = _run({"FASTPROB_CACHE_DIR": str(blocker / "cache"), "XDG_CACHE_HOME": str(blocker),
                "HOME": str(blocker), "TMPDIR": str(tmp)})
    assert pathlib.Path(got["cache"]).parent.parent == tmp
    assert got["built"] > 0


def test_no_writable_folder_at_all_still_computes(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = "import os, tempfile; tempfile.tempdir = os.environ['BLOCKED']\n" + _PROBE
    got = _run({"FASTPROB_CACHE_DIR": str(blocker / "a"), "XDG_CACHE_HOME": str(blocker), "HOME": str(blocker),
                "BLOCKED": str(blocker)}, code=code)
    reference = _run({"FASTPROB_CACHE_DIR": str(tmp_path / "cache")})
    assert got["cache"] == "None" and got["result"] == reference["result"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="permissions do not bind root: the read-only install is simulated by the tests above")
def test_read_only_install(tmp_path):
    site = tmp_path / "site"
    shutil.copytree(PACKAGE, site / "fastprob", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(KERNELS, site / "fastprob" / "kernels", ignore=shutil.ignore_patterns("__pycache__"))
    for p in sorted(site.rglob("*"), reverse=True):
        p.chmod(0o555 if p.is_dir() else 0o444)
    site.chmod(0o555)
    try:
        got = _run({"FASTPROB_CACHE_DIR": str(tmp_path / "cache")}, pythonpath=site, cwd=tmp_path)
        assert got["built"] > 0 and pathlib.Path(got["cache"]).is_relative_to(tmp_path / "cache")
    finally:
        for p in [site, *site.rglob("*")]:
            p.chmod(0o755)


def test_processes_sharing_one_empty_folder(tmp_path):
    # Four processes compile into one empty folder at once (Numba writes each file under
    # a temporary name and renames it): all get the same numbers, and a fifth process
    # afterwards loads every kernel it needs.
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "FASTPROB_NUMBA_CACHE")}
    env["FASTPROB_CACHE_DIR"] = str(tmp_path)
    procs = [subprocess.Popen([sys.executable, "-P", "-c", _PROBE], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(4)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert len({r["result"] for r in results}) == 1
    later = _run({"FASTPROB_CACHE_DIR": str(tmp_path)})
    assert later["built"] == 0 and later["result"] == results[0]["result"]


def test_editing_a_kernel_source_never_loads_stale_code(tmp_path):
    # A copy of the installed layout (fastprob/kernels/) whose kernel sources we edit.
    # LOG_2PI is defined in kernels/gaussian.py and compiled into mixture_scores in
    # kernels/mixture.py: Numba's own cache would keep serving mixture_scores' old code.
    root = tmp_path / "src"
    shutil.copytree(PACKAGE, root / "fastprob", ignore=shutil.ignore_patterns("__pycache__", "kernels"))
    shutil.copytree(KERNELS, root / "fastprob" / "kernels", ignore=shutil.ignore_patterns("__pycache__"))
    env = {"FASTPROB_CACHE_DIR": str(tmp_path / "cache")}
    first = _run(env, pythonpath=root, cwd=tmp_path)
    gaussian = root / "fastprob" / "kernels" / "gaussian.py"
    text = gaussian.read_text()
    assert "LOG_2PI = np.log(2.0 * np.pi)\n" in text
    gaussian.write_text(text.replace("LOG_2PI = np.log(2.0 * np.pi)\n", "LOG_2PI = np.log(2.0 * np.pi) + 2.0\n"))
    edited = _run(env, pythonpath=root, cwd=tmp_path)
    assert edited["cache"] != first["cache"] and edited["built"] > 0
    assert edited["ll0"] == pytest.approx(first["ll0"] - 0.5 * 3 * 2.0, rel=1e-12)
    gaussian.write_text(text)
    restored = _run(env, pythonpath=root, cwd=tmp_path)
    assert restored["cache"] == first["cache"] and restored["built"] == 0 and restored["result"] == first["result"]


def test_cache_can_be_turned_off(tmp_path):
    got = _run({"FASTPROB_CACHE_DIR": str(tmp_path), "FASTPROB_NUMBA_CACHE": "0"})
    assert got["built"] > 0 and not list(tmp_path.rglob("*.nbi"))


def test_locator_claims_only_fastprob_kernels():
    assert _cache.cache_dir() is not None
    assert _cache._KernelCacheLocator.from_function(test_locator_claims_only_fastprob_kernels, __file__) is None
    kernel = fastprob.kernels.mixture.em_step.kernel.py_func
    assert _cache._KernelCacheLocator.from_function(kernel, kernel.__code__.co_filename) is not None


def test_roots_in_order(monkeypatch):
    monkeypatch.setenv("FASTPROB_CACHE_DIR", "/a")
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/b")
    monkeypatch.setenv("XDG_CACHE_HOME", "/c")
    roots = _cache.cache_roots()
    assert roots[:2] == [pathlib.Path("/a"), pathlib.Path("/b/fastprob")]
    if sys.platform.startswith("linux"):
        assert roots[2] == pathlib.Path("/c/fastprob")
    assert roots[-1].parent == pathlib.Path(tempfile.gettempdir())


def test_relative_settings_and_an_unusable_named_folder(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FASTPROB_CACHE_DIR", "rel")
    assert _cache.cache_roots()[0] == tmp_path / "rel"  # absolute: a later chdir does not move the cache
    if sys.platform.startswith("linux"):
        monkeypatch.setenv("XDG_CACHE_HOME", "relxdg")  # the XDG spec: ignore a relative value
        assert _cache._user_cache_home() == pathlib.Path.home() / ".cache"
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FASTPROB_CACHE_DIR", str(blocker))
    _cache.cache_dir.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match=r"FASTPROB_CACHE_DIR cannot be used: .*file.*; compiled kernels are kept in"):
            path = _cache.cache_dir()
        assert path is not None and blocker not in path.parents
    finally:
        _cache.cache_dir.cache_clear()
