"""`fastprob bench`: the registry report (Markdown, JSON, PNG) at a tiny selection."""
import json
import re
import struct

import numpy as np
import pytest

from fastprob import bench
from fastprob.cli import main
from fastprob.kernels.target import PLAN


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("bench")
    assert main(["bench", "--quick", "--filter", "mvn_logpdf-d2", "--out", str(out), "--rounds", "3"]) == 0
    return out


def test_quick_report_has_header_and_table(report_dir, capsys):
    md = (report_dir / "bench.md").read_text()
    for field in ("CPU:", "logical CPUs", "threads:", "Python threads", "numpy", "scipy", "numba", "versions:",
                  "'test' sizes (--quick)", f"kernels compiled for: {PLAN.describe()}"):
        assert field in md, field
    report = json.loads((report_dir / "bench.json").read_text())
    gemm = re.search(r"numpy GEMM in this run[^:]*: float64 ([\d.]+) GFLOP/s, float32 ([\d.]+) GFLOP/s", md)
    assert gemm and float(gemm[1]) == round(report["gemm_gflops"]["float64"], 1) > 0
    # The rate column: N * flops per row / median, as a share of the same run's GEMM rate.
    entry = report["results"][0]
    stats = entry["implementations"]["fastprob"]
    rate = entry["n"] * entry["flops_per_row"] / stats["median"] / 1e9
    share = 100 * rate / report["gemm_gflops"]["float64"]
    assert f"| {bench._fmt_time(stats['compile'])} | {rate:.1f} ({share:.0f}%) |" in md
    assert "## mvn_logpdf" in md
    assert "| " + " | ".join(bench.HEADER) + " |" in md
    rows = [line for line in md.splitlines() if line.startswith("| d2-")]
    impls = {row.split("|")[3].strip() for row in rows}
    assert impls == {"fastprob", "fastprob-1thread", "numpy", "scipy"}
    assert len(rows) == 8  # float64 and float32
    assert all("✓" in row for row in rows if "| fastprob |" not in row)


def test_quick_report_json_and_png(report_dir):
    report = json.loads((report_dir / "bench.json").read_text())
    assert [r["name"] for r in report["results"]] == ["mvn_logpdf-d2-float64", "mvn_logpdf-d2-float32"]
    stats = report["results"][0]["implementations"]["fastprob"]
    assert stats["q1"] <= stats["median"] <= stats["q3"] and stats["rounds"] == 3
    assert all(len(points) >= 3 for points in report["scaling"]["mvn_logpdf-d2-float64"].values())
    data = (report_dir / "bench.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (800, 320)  # 2 panels of 4.0 x 3.2 in at 100 dpi


def test_time_call_measures_compile_separately():
    calls = []

    def fn(x):
        calls.append(x)
        return x

    result, stats = bench.time_call(fn, (1,), rounds=5)
    assert result == 1 and len(calls) == 6
    assert stats["compile"] == max(stats["first"] - stats["median"], 0.0)


def test_bench_usage(capsys, tmp_path):
    assert main(["bench", "--filter", "no-such", "--out", str(tmp_path)]) == 2
    assert "matches no comparison" in capsys.readouterr().err
    assert main(["bench", "--list"]) == 0
    assert "gmm_logpdf-W1-float64" in capsys.readouterr().out
    assert [c.name for c in bench.select(["normal_fit"])] == ["normal_fit-float64", "normal_fit-float32"]


def test_markdown_flags_errors_above_rtol():
    report = {"machine": bench.machine_info(), "quick": True, "date": "today", "elapsed": 0.0, "scaling": {},
              "results": [{"name": "op-a", "operation": "op", "case": "a", "n": 10, "rtol": 1e-12,
                           "implementations": {
                               "fastprob": {"median": 1.0, "q1": 1.0, "q3": 1.0, "compile": 0.0},
                               "numpy": {"median": 2.0, "q1": 1.5, "q3": 2.5, "compile": 0.0, "error": 1e-6},
                               "scipy": {"failed": "ValueError: boom"}}}]}
    md = bench.markdown(report)
    assert "| a | 10 | numpy | 2 s | 1 s | 2.00× | 1.0e-06 ✗ (1e-12) | 0 ns | – |" in md
    assert "| a | 10 | scipy | failed |" in md
    assert np.isfinite(report["elapsed"])
