"""The worked examples in examples/ run and find what they claim (at a small size)."""
import pathlib
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def test_dask_example_recovers_the_two_clusters():
    out = subprocess.run([sys.executable, str(EXAMPLES / "dask_fit.py"), "60000"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = {line.split(":")[0]: line for line in out.stdout.splitlines()}
    assert "converged=True" in lines["fit"]
    weights = [float(v) for v in lines["weights"].split("[")[1].rstrip("]").split()]
    assert abs(weights[0] - 0.3) < 0.01 and abs(weights[1] - 0.7) < 0.01
    smaller = int(lines["rows in the smaller component"].split(":")[1])
    assert abs(smaller - 0.3 * 60000) < 600
