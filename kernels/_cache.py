"""Where the compiled kernels are kept on disk, and when a kept build is stale.

Numba's own cache writes next to the source (into the installed package) and
notices only changes to the file that defines a function, while fastprob's
kernels call and inline kernels from other files.  fastprob's kernels are
cached instead in a folder of their own::

    <root>/<Numba version>-<digest of every kernel source file>/

``<root>`` is, in order: ``$FASTPROB_CACHE_DIR``; ``$NUMBA_CACHE_DIR/fastprob``;
the user's cache folder (``$XDG_CACHE_HOME/fastprob``, ``~/.cache/fastprob``;
``%LOCALAPPDATA%\\fastprob`` on Windows, ``~/Library/Caches/fastprob`` on macOS);
the first of these that can be written, else a folder in the temporary
directory.  So:

* nothing is ever written into the package directory (a read-only or shared
  install works, and is never modified);
* editing any kernel source, or upgrading fastprob or Numba, selects a new
  folder: stale machine code is never loaded, and nothing is deleted;
* several processes on one host can share a folder: Numba writes each cache
  file to a temporary name and renames it into place, so a reader sees a
  whole file or none.

Within a folder Numba keys each build on the Python version (file name), the
argument types, the function's bytecode and the exact CPU name and features.
"""
import functools
import hashlib
import os
import pathlib
import sys
import tempfile
import warnings

import numba
from numba.core.caching import CompileResultCacheImpl, FunctionCache, _CacheLocator

KERNELS_DIR = pathlib.Path(__file__).resolve().parent


@functools.lru_cache(maxsize=None)
def sources_digest():
    """SHA-256 of all kernel source files: changes whenever any kernel changes."""
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(KERNELS_DIR.glob("*.py")))).hexdigest()


def _user_cache_home():
    if sys.platform == "win32":
        return pathlib.Path(os.environ.get("LOCALAPPDATA") or pathlib.Path.home() / "AppData" / "Local")
    if sys.platform == "darwin":
        return pathlib.Path.home() / "Library" / "Caches"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return pathlib.Path(xdg) if os.path.isabs(xdg) else pathlib.Path.home() / ".cache"


def cache_roots():
    """Candidate roots of the kernel cache, in order of preference (see the module docstring).

    Relative paths in the variables are taken from the current directory (made
    absolute once, so a later ``os.chdir`` does not move the cache), except
    ``XDG_CACHE_HOME``, which the XDG specification says to ignore if relative.
    """
    roots = []
    if os.environ.get("FASTPROB_CACHE_DIR"):
        roots.append(pathlib.Path(os.environ["FASTPROB_CACHE_DIR"]).absolute())
    if os.environ.get("NUMBA_CACHE_DIR"):
        roots.append(pathlib.Path(os.environ["NUMBA_CACHE_DIR"]).absolute() / "fastprob")
    try:
        roots.append(_user_cache_home() / "fastprob")
    except RuntimeError:  # no home directory
        pass
    uid = os.getuid() if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    roots.append(pathlib.Path(tempfile.gettempdir()) / f"fastprob-cache-{uid}")
    return roots


@functools.lru_cache(maxsize=None)
def cache_dir():
    """The folder this process reads and writes compiled kernels in, or None if none is writable."""
    leaf = f"{numba.__version__}-{sources_digest()[:16]}"
    refused = []
    for root in cache_roots():
        path = root / leaf
        try:
            path.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=path).close()
        except OSError as exc:
            refused.append(f"{path} ({exc.strerror or exc})")
            continue
        break
    else:
        path = None
    if refused and os.environ.get("FASTPROB_CACHE_DIR"):
        # The user named a folder: say that it is not used, and what is.
        warnings.warn(f"FASTPROB_CACHE_DIR cannot be used: {refused[0]}; compiled kernels are kept in "
                      f"{path or 'no folder (compiled in every process)'} instead.", RuntimeWarning, stacklevel=2)
    return path


class _KernelCacheLocator(_CacheLocator):
    """Numba cache locator for the functions defined in ``kernels/`` (see the module docstring)."""

    def __init__(self, py_func, py_file):
        self._py_file = py_file  # Numba names it in its "cannot cache" warnings
        self._lineno = py_func.__code__.co_firstlineno

    def ensure_cache_path(self):
        pass  # made (and checked writable) once per process by cache_dir()

    def get_cache_path(self):
        return str(cache_dir())

    def get_source_stamp(self):
        # The folder is already named by the digest; the stamp repeats it so that a
        # folder renamed or copied by hand still never serves other sources' code.
        return sources_digest()

    def get_disambiguator(self):
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        if cache_dir() is None or pathlib.Path(py_file).resolve().parent != KERNELS_DIR:
            return None
        return cls(py_func, py_file)


class _KernelCacheImpl(CompileResultCacheImpl):
    _locator_classes = [_KernelCacheLocator]


class KernelFunctionCache(FunctionCache):
    """Numba's per-function cache, kept in :func:`cache_dir` (see the module docstring)."""

    _impl_class = _KernelCacheImpl


def enable(dispatcher):
    """Cache ``dispatcher``'s builds in :func:`cache_dir`; a no-op where no folder can be written."""
    if cache_dir() is None:
        return dispatcher
    try:
        dispatcher._cache = KernelFunctionCache(dispatcher.py_func)
    except RuntimeError:  # NUMBA_CACHE_LOCATOR_CLASSES names locators that refuse this file
        pass
    return dispatcher
