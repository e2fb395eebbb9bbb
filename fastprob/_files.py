"""Writing files safely: every file fastprob writes goes through :func:`atomic_write`.

A file written in place is, for a while, a partial file under its final name:
a full disk left a truncated model (a valid one it was replacing destroyed),
``kill -9`` left a labels file cut at a line boundary (it looked complete), and
two processes saving to one path interleaved their bytes.  Instead the data go
to a temporary file in the target's folder (the same file system, so the rename
is atomic), which is flushed to disk and then renamed over the target with
:func:`os.replace`: readers see the old file or the new one, never a mixture.
"""
import contextlib
import errno
import os
import secrets

__all__ = ["atomic_write", "check_writable_folder", "TEMP_SUFFIX"]

#: Temporary files are ``.<name>.<random>.tmp`` beside the target: hidden, and
#: recognisable if a killed process leaves one behind.
TEMP_SUFFIX = ".tmp"


def _create_temp(folder, name):
    """(fd, path) of a new empty file in ``folder``, created with the mode ``open(path, "w")`` would give.

    ``tempfile.mkstemp`` creates files readable by their owner only; a model or
    a report should get the usual permissions (0o666 less the umask).
    """
    for _ in range(100):
        path = os.path.join(folder, f".{name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", folder)


def _fsync_folder(folder):
    """Make a rename in ``folder`` durable (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path, mode="wb", *, encoding="utf-8", newline=None):
    """Open a file to write that appears under ``path`` only once complete.

    The data go to a temporary file in the same folder; when the ``with``
    block ends without an exception the file is flushed, synced to disk and
    renamed onto ``path`` (replacing any file there).  If the block raises (a
    full disk, a bug, Ctrl-C) the temporary file is removed and ``path`` is
    left as it was.  A process killed mid-way leaves ``path`` untouched too,
    plus a hidden ``.<name>.<random>.tmp`` file beside it.  Of two processes
    writing the same path, the one that finishes last wins, with its complete
    file.

    Parameters
    ----------
    path : str or path-like
        The file to write.  A symbolic link is followed: its target is replaced.
    mode : {'wb', 'w'}, default 'wb'
        Binary or text.
    encoding : str, default 'utf-8'
        Text mode only.
    newline : str, optional
        Text mode only, as for :func:`open`.

    Yields
    ------
    file object
        Open for writing (binary or text).

    Raises
    ------
    OSError
        The folder does not exist or is not writable, the disk is full, ...

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
    >>> with atomic_write(path, "w") as fh:
    ...     _ = fh.write("complete, or not there at all\\n")
    >>> path.read_text()
    'complete, or not there at all\\n'
    >>> sorted(p.name for p in path.parent.iterdir())  # no temporary file left
    ['notes.txt']
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}.")
    target = os.path.realpath(os.fspath(path))
    folder, name = os.path.split(target)
    if not os.path.isdir(folder):  # (else the error would name the temporary file)
        raise FileNotFoundError(errno.ENOENT, f"No such folder {folder!r} to write {os.fspath(path)!r} in",
                                os.fspath(path))
    fd, temp = _create_temp(folder, name)
    try:
        kwargs = {} if mode == "wb" else {"encoding": encoding, "newline": newline}
        with open(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_folder(folder)


def check_writable_folder(folder):
    """Raise OSError unless a file can be created in ``folder`` (checked by creating one).

    :func:`os.access` answers from permission bits only: it says yes to root in
    a mode-0555 folder it may write, and to anyone on a read-only file system
    it may not.  Creating (and removing) a temporary file answers exactly.

    Parameters
    ----------
    folder : str or path-like

    Raises
    ------
    FileNotFoundError
        ``folder`` does not exist.
    NotADirectoryError
        ``folder`` is a file.
    OSError
        No file can be created there (permissions, a read-only file system);
        its ``strerror`` says why.
    """
    folder = os.fspath(folder) or "."
    if not os.path.exists(folder):
        raise FileNotFoundError(errno.ENOENT, "no such folder", folder)
    if not os.path.isdir(folder):
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", folder)
    fd, probe = _create_temp(folder, "fastprob-write-check")
    os.close(fd)
    os.unlink(probe)
