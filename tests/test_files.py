"""Files written safely (fastprob._files): complete or absent under a crash, a full disk, kill -9 and racing writers.

Every file fastprob writes -- GaussianMixture.save, the CLI's model and labels,
the bench report, figures -- goes to a temporary file in the same folder that
is renamed into place when complete.  Written in place, a full disk left a
truncated model (destroying the valid one it replaced), kill -9 left a labels
file cut at a line boundary, and two processes saving to one path corrupted it
in 5 of 6 trials.
"""
import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import fastprob
from fastprob import _files
from fastprob._files import TEMP_SUFFIX, atomic_write


@pytest.fixture(scope="module")
def model():
    return fastprob.GaussianMixture(2, random_state=0).fit(fastprob.load_faithful())


def temp_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(TEMP_SUFFIX))


def test_the_file_appears_only_when_complete(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old\n")
    with atomic_write(path, "w") as fh:
        fh.write("new\n")
        assert path.read_text() == "old\n"  # not yet
        (temp,) = temp_files(tmp_path)
        assert temp.startswith(".out.txt.")
    assert path.read_text() == "new\n" and temp_files(tmp_path) == []
    # the permissions open() gives a new file (mkstemp's are owner-only)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    with atomic_write(path, "wb") as fh:
        fh.write(b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"


def test_an_error_inside_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old\n")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(path, "w") as fh:
            fh.write("half")
            raise KeyboardInterrupt
    assert path.read_text() == "old\n" and temp_files(tmp_path) == []
    with pytest.raises(ValueError, match=r"^mode must be 'wb' or 'w', got 'a'\.$"):
        with atomic_write(path, "a"):
            pass


def test_a_link_is_followed(tmp_path):
    (tmp_path / "real.txt").write_text("old")
    (tmp_path / "link.txt").symlink_to("real.txt")
    with atomic_write(tmp_path / "link.txt", "w") as fh:
        fh.write("new")
    assert (tmp_path / "link.txt").is_symlink() and (tmp_path / "real.txt").read_text() == "new"


def test_save_to_a_file_object_still_works(model):
    import io

    buffer = io.BytesIO()
    model.save(buffer)
    buffer.seek(0)
    back = fastprob.GaussianMixture.load(buffer)
    np.testing.assert_array_equal(back.covariances_, model.covariances_)


def test_check_writable_folder(tmp_path):
    _files.check_writable_folder(tmp_path)
    assert list(tmp_path.iterdir()) == []  # the probe is removed
    with pytest.raises(FileNotFoundError, match="no such folder"):
        _files.check_writable_folder(tmp_path / "missing")
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="not a folder"):
        _files.check_writable_folder(tmp_path / "file")


class _FullDisk:
    """A file object whose writes fail with ENOSPC once ``room`` bytes are written (the disk is full)."""

    def __init__(self, fh, room):
        self._fh, self._room = fh, room

    def write(self, data):
        if len(data) > self._room:
            self._fh.write(data[:self._room])
            self._room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._fh.write(data)

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._fh.close()


def _minimal_report():
    from fastprob._bench import runner

    return {"source": "fastprob bench", "machine": runner.machine_info(), "quick": True, "date": "today",
            "elapsed": 0.0, "scaling": {},
            "results": [{"name": "op-a", "operation": "op", "family": "gaussian", "case": "a", "n": 10,
                         "rtol": 1e-12, "implementations": {"fastprob": {"median": 1.0, "q1": 1.0, "q3": 1.0,
                                                                         "compile": 0.0}}}]}


def _write_model(path, model):
    model.save(path)


def _write_labels(path, model):
    from fastprob import cli

    cli._write_predictions(path, model, fastprob.load_faithful(), np.float64, True, True)


def _write_report(path, model):
    from fastprob._bench import report

    report.write(_minimal_report(), path.parent)


def _write_figure(path, model):
    pytest.importorskip("matplotlib")
    from fastprob import plot

    plot.sigmoid_figure(path=path)


WRITERS = {"model.npz": _write_model, "labels.csv": _write_labels, "bench.md": _write_report,
           "figure.png": _write_figure}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_a_full_disk_leaves_the_old_file_untouched(tmp_path, monkeypatch, model, name):
    # Simulated: every write after the first 1000 bytes fails with ENOSPC, as on a full disk.
    path = tmp_path / name
    WRITERS[name](path, model)
    old = path.read_bytes()
    assert len(old) > 1000
    real_open = open
    monkeypatch.setattr(_files, "open", lambda *a, **k: _FullDisk(real_open(*a, **k), 1000), raising=False)
    with pytest.raises(OSError) as exc:
        WRITERS[name](path, model)
    assert exc.value.errno == errno.ENOSPC
    assert path.read_bytes() == old
    assert temp_files(tmp_path) == []


def test_the_cli_reports_a_full_disk_and_keeps_the_previous_outputs(tmp_path, monkeypatch, capsys):
    from fastprob.cli import main

    data = tmp_path / "data.csv"
    np.savetxt(data, fastprob.load_faithful(), delimiter=",", header="x,y", comments="")
    argv = ["fit", str(data), "-k", "2", "--labels", "-q", "--out", str(tmp_path)]
    assert main(argv) == 0
    before = {p: (tmp_path / p).read_bytes() for p in ("data.gmm.npz", "data.labels.csv")}
    real_open = open
    monkeypatch.setattr(_files, "open", lambda *a, **k: _FullDisk(real_open(*a, **k), 1000), raising=False)
    capsys.readouterr()
    assert main([*argv[:3], "3", *argv[4:]]) == 1
    assert capsys.readouterr().err == "fastprob: error: cannot write the output: [Errno 28] No space left on device\n"
    assert {p: (tmp_path / p).read_bytes() for p in before} == before
    assert temp_files(tmp_path) == []


def _can_mount_a_tmpfs():
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    try:
        probe = subprocess.run([unshare, "-m", "sh", "-c", "d=$(mktemp -d) && mount -t tmpfs -o size=64k tmpfs $d "
                                "&& umount $d && rmdir $d"], capture_output=True, timeout=30)
    except OSError:
        return False
    return probe.returncode == 0


def test_a_real_full_disk(tmp_path, model):
    # A 192 KiB tmpfs in a private mount namespace (root on Linux; it vanishes with the process).
    if not _can_mount_a_tmpfs():
        pytest.skip("cannot mount a tmpfs here (needs root and mount namespaces)")
    disk = tmp_path / "disk"
    disk.mkdir()
    model.save(tmp_path / "small.npz")
    script = tmp_path / "fill.py"
    script.write_text(textwrap.dedent("""
        import errno, os, sys
        import numpy as np
        import fastprob
        disk, small = sys.argv[1], sys.argv[2]
        path = os.path.join(disk, "m.npz")
        gm = fastprob.GaussianMixture.load(small)
        gm.save(path)
        old = open(path, "rb").read()
        big = fastprob.GaussianMixture.load(small)
        big.lower_bounds_ = list(np.linspace(-5, -4, 40_000))  # 320 KB: more than the disk holds
        try:
            big.save(path)
        except OSError as exc:
            print("errno", exc.errno == errno.ENOSPC)
        print("unchanged", open(path, "rb").read() == old)
        print("loads", fastprob.GaussianMixture.load(path).lower_bounds_ == gm.lower_bounds_)
        print("files", sorted(os.listdir(disk)))
    """))
    proc = subprocess.run(["unshare", "-m", "sh", "-c", 'mount -t tmpfs -o size=192k tmpfs "$1" && exec "$2" "$3" '
                           '"$1" "$4"', "sh", str(disk), sys.executable, str(script), str(tmp_path / "small.npz")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["errno True", "unchanged True", "loads True", "files ['m.npz']"]


WRITER = """
import sys
import numpy as np
import fastprob
from fastprob import _sources, cli
_sources.MEMMAP_CHUNK_BYTES = 16 * 20  # 20-row chunks: a slow writer, so that it can be caught mid-way
gm = fastprob.GaussianMixture.load(sys.argv[1])
X = np.load(sys.argv[2], mmap_mode="r")
cli._write_predictions(sys.argv[3], gm, X, np.float64, True, True)
"""


@pytest.mark.parametrize("existing", [True, False])
def test_kill_9_mid_write_leaves_the_old_file_or_none(tmp_path, model, existing):
    # Written in place, kill -9 left 166 666 of 5 000 001 lines, ending on a complete line.
    model.save(tmp_path / "m.npz")
    X = fastprob.gmm_sample(model.weights_, model.means_, model.covariances_, 200_000, random_state=0)[0]
    np.save(tmp_path / "x.npy", X)
    (tmp_path / "writer.py").write_text(WRITER)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "labels.csv"
    if existing:
        target.write_text("label,p0,p1\n1,0.25,0.75\n")
    proc = subprocess.Popen([sys.executable, str(tmp_path / "writer.py"), str(tmp_path / "m.npz"),
                             str(tmp_path / "x.npy"), str(target)])
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            temps = temp_files(out)
            if temps and (out / temps[0]).stat().st_size > 100_000:  # well into the file
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.01)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, "the writer finished before it could be killed"
    if existing:
        assert target.read_text() == "label,p0,p1\n1,0.25,0.75\n"
    else:
        assert not target.exists()
    (temp,) = temp_files(out)  # the partial file, hidden, under another name
    assert temp.startswith(".labels.csv.")


RACER = """
import sys
import fastprob
gm = fastprob.GaussianMixture.load(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()  # start together
for _ in range(int(sys.argv[3])):
    gm.save(sys.argv[2])
"""


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_racing_writers_leave_one_complete_file(tmp_path):
    # Two processes saving to one path corrupted it in 5 of 6 trials; load then raised
    # zipfile.BadZipFile.  Now every load during and after the race gets one of the two.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1500, 60))
    models = [fastprob.GaussianMixture(4, random_state=seed, max_iter=2).fit(X) for seed in (0, 1)]
    for i, gm in enumerate(models):
        gm.save(tmp_path / f"m{i}.npz")
    target = tmp_path / "shared.npz"
    models[0].save(target)
    (tmp_path / "racer.py").write_text(RACER)
    procs = [subprocess.Popen([sys.executable, str(tmp_path / "racer.py"), str(tmp_path / f"m{i}.npz"), str(target),
                               "25"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for i in range(2)]
    loads = 0
    try:
        for p in procs:
            assert p.stdout.readline() == "ready\n"
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        while any(p.poll() is None for p in procs):
            back = fastprob.GaussianMixture.load(target)  # never a mixture of the two, never damaged
            assert any(np.array_equal(back.means_, gm.means_) for gm in models)
            loads += 1
        for p in procs:
            assert p.wait(timeout=120) == 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    back = fastprob.GaussianMixture.load(target)
    assert any(np.array_equal(back.covariances_, gm.covariances_) for gm in models)
    assert loads > 0 and temp_files(tmp_path) == []
