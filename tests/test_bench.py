"""`fastprob bench` and the one report writer (fastprob._bench): Markdown, JSON, figures, pytest-benchmark files."""
import json
import pathlib
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

from fastprob._bench import registry, report, runner
from fastprob.cli import main
from fastprob.kernels.target import PLAN

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    pytest.importorskip("matplotlib")
    out = tmp_path_factory.mktemp("bench")
    assert main(["bench", "--quick", "--filter", "mvn_logpdf-d2", "--filter", "sigmoid-float64",
                 "--out", str(out), "--rounds", "3", "-q"]) == 0
    return out


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_quick_report_has_header_and_table(report_dir):
    md = (report_dir / "bench.md").read_text()
    for field in ("CPU:", "logical CPUs", "threads:", "Python threads", "numpy", "scipy", "numba", "versions:",
                  "'test' sizes (--quick)", f"kernels compiled for: {PLAN.describe()}"):
        assert field in md, field
    data = json.loads((report_dir / "bench.json").read_text())
    gemm = re.search(r"numpy GEMM in this run[^:]*: float64 ([\d.]+) GFLOP/s, float32 ([\d.]+) GFLOP/s", md)
    assert gemm and float(gemm[1]) == round(data["gemm_gflops"]["float64"], 1) > 0
    # The rate column: N * flops per row / median, as a share of the same run's GEMM rate.
    entry = data["results"][0]
    stats = entry["implementations"]["fastprob"]
    rate = entry["n"] * entry["flops_per_row"] / stats["median"] / 1e9
    share = 100 * rate / data["gemm_gflops"]["float64"]
    assert f"| {report.fmt_time(stats['compile'])} | {rate:.1f} ({share:.0f}%) |" in md
    assert "## mvn_logpdf" in md and "## sigmoid" in md
    assert "| " + " | ".join(report.HEADER) + " |" in md
    rows = [line for line in md.splitlines() if line.startswith("| d2-")]
    impls = {row.split("|")[3].strip() for row in rows}
    assert impls == {"fastprob", "fastprob-1thread", "numpy", "scipy"}
    assert len(rows) == 8  # float64 and float32
    assert all("✓" in row for row in rows if "| fastprob |" not in row)
    # Every timing whose IQR exceeds its median is marked, and only those; the sentence counts them.
    timings = [(e, label, s) for e in data["results"] for label, s in e["implementations"].items() if "median" in s]
    flagged = [(e["case"], label) for e, label, s in timings if s["q3"] - s["q1"] > s["median"]]
    marked = [(row.split("|")[1].strip(), row.split("|")[3].strip()) for row in md.splitlines()
              if row.startswith("| ") and report.UNRELIABLE in row]
    assert sorted(marked) == sorted(flagged)
    if flagged:
        assert f"**{len(flagged)} of {len(timings)} timings are unreliable** (marked ⚠)" in md
    else:
        assert "Every timing's spread (IQR of its rounds) is below its median." in md


def test_quick_report_json_and_one_figure_per_family(report_dir, capsys):
    data = json.loads((report_dir / "bench.json").read_text())
    assert [r["name"] for r in data["results"]] == ["mvn_logpdf-d2-float64", "mvn_logpdf-d2-float32",
                                                    "sigmoid-float64"]
    assert [r["family"] for r in data["results"]] == ["gaussian", "gaussian", "activations"]
    stats = data["results"][0]["implementations"]["fastprob"]
    assert stats["min"] <= stats["q1"] <= stats["median"] <= stats["q3"] <= stats["max"] and stats["rounds"] == 3
    # --quick: the measured N and two smaller ones
    assert all([n for n, _ in points] == [125, 500, 2000]
               for points in data["scaling"]["mvn_logpdf-d2-float64"].values())
    # one panel for both dtypes of mvn_logpdf d2 (480 x 360 px plus the legend's 70), one for sigmoid
    assert sorted(p.name for p in report_dir.glob("*.png")) == ["bench-activations.png", "bench-gaussian.png"]
    assert _png_size(report_dir / "bench-gaussian.png") == (480, 430)
    assert _png_size(report_dir / "bench-activations.png") == (480, 430)
    assert "Time vs N for each implementation: `bench-gaussian.png`, `bench-activations.png`." in (
        report_dir / "bench.md").read_text()


def test_cli_prints_every_path_it_writes(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["bench", "--quick", "--filter", "tanh-float64", "--filter", "logsumexp-rows100-float64",
                 "--rounds", "2", "-q", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"report: {tmp_path / 'bench.md'}", f"figure: {tmp_path / 'bench-activations.png'}",
                   f"figure: {tmp_path / 'bench-information.png'}"]
    assert main(["bench", "--quick", "--filter", "tanh-float64", "--no-plot", "-q", "--out", str(tmp_path / "n")]) == 0
    assert capsys.readouterr().out.splitlines()[1] == "figures: not written; no time-vs-N runs (--no-plot)"


def test_figures_group_panels_by_family_and_operation():
    # Registry order is workload by workload; each figure's rows are one operation across workloads.
    names = [c.name for c in registry.REGISTRY if c.family == "mixture"]
    results = [{"name": n, "operation": n.split("-")[0], "family": "mixture", "dtype": n.rsplit("-", 1)[1]}
               for n in names]
    panels = report._panels({"results": results, "scaling": {n: {"fastprob": [[1, 1.0]]} for n in names}})
    assert list(panels) == ["mixture"]
    assert list(panels["mixture"]) == ["gmm_logpdf W1", "gmm_logpdf W2", "gmm_logpdf W3",
                                       "em_iteration W1", "em_iteration W2", "em_iteration W3",
                                       "fit5 W1", "fit5 W2", "fit5 W3",
                                       "em_iteration_missing W2-1col30", "em_iteration_missing W2-mcar10",
                                       "em_iteration_stacked W2-K1to8x2"]
    assert panels["mixture"]["fit5 W2"] == [("float64", "fit5-W2-float64"), ("float32", "fit5-W2-float32")]


def test_time_call_measures_compile_separately():
    calls = []

    def fn(x):
        calls.append(x)
        return x

    result, stats = runner.time_call(fn, (1,), rounds=5)
    assert result == 1 and len(calls) == 6
    assert stats["compile"] == max(stats["first"] - stats["median"], 0.0)


def test_quick_selects_the_representative_subset():
    quick = runner.select(quick=True)
    assert {c.name for c in quick} == registry.QUICK
    assert {np.dtype(c.dtype).name for c in quick} == {"float64"}
    # every operation and every family of the registry is in it
    assert {c.name.split("-")[0] for c in quick} == {c.name.split("-")[0] for c in registry.REGISTRY}
    assert {c.family for c in quick} == set(registry.FAMILIES)
    # prefixes choose from the whole registry, quick or not
    assert [c.name for c in runner.select(["normal_fit"], quick=True)] == ["normal_fit-float64",
                                                                          "normal_fit-float32"]
    assert len(runner.select()) == len(registry.REGISTRY)


def test_bench_usage(capsys, tmp_path):
    assert main(["bench", "--filter", "no-such", "--out", str(tmp_path)]) == 2
    assert "--filter no-such: matches no comparison; `fastprob bench --list` shows them" in capsys.readouterr().err
    assert main(["bench", "--list"]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert len(listing) == len(registry.REGISTRY)
    assert [line.split()[0] for line in listing if line.endswith(" quick")] == [
        c.name for c in registry.REGISTRY if c.quick]
    assert listing[0].split()[:2] == ["mvn_logpdf-d2-float64", "gaussian"]


def _entry(**impls):
    return {"name": "op-a", "operation": "op", "family": "gaussian", "case": "a", "n": 10, "rtol": 1e-12,
            "implementations": impls}


def test_markdown_flags_errors_above_rtol_and_unreliable_timings():
    data = {"source": "fastprob bench", "machine": runner.machine_info(), "quick": True, "date": "today",
            "elapsed": 0.0, "scaling": {},
            "results": [_entry(fastprob={"median": 1.0, "q1": 1.0, "q3": 1.0, "compile": 0.0},
                               numpy={"median": 2.0, "q1": 1.5, "q3": 2.5, "compile": 0.0, "error": 1e-6},
                               sklearn={"median": 2.0, "q1": 1.0, "q3": 3.5, "compile": 0.0, "error": 0.0},
                               scipy={"failed": "ValueError: boom"})]}
    md = report.markdown(data)
    assert "| a | 10 | numpy | 2 s | 1 s | 2.00× | 1.0e-06 ✗ (1e-12) | 0 ns | – |" in md
    assert "| a | 10 | sklearn | 2 s ⚠ | 2.5 s | 2.00× | 0.0e+00 ✓ (1e-12) | 0 ns | – |" in md
    assert "| a | 10 | scipy | failed |" in md
    sentence = md.index("**1 of 3 timings are unreliable** (marked ⚠): the spread of their rounds (IQR) is larger")
    assert sentence < md.index("## op")


#: A pytest-benchmark JSON file as `pytest benchmarks --benchmark-json` writes it (the fields the writer reads).
def _bench_json():
    def bench(group, median, extra, spread=0.1):
        return {"group": group, "extra_info": extra,
                "stats": {"median": median, "q1": median * (1 - spread), "q3": median * (1 + spread),
                          "min": median * 0.8, "max": median * 1.5, "rounds": 5}}

    return {"datetime": "2026-01-02T03:04:05", "machine_info": {
        "cpu": {"brand_raw": "Test CPU 9000", "count": 2}, "system": "Linux", "release": "6.1", "machine": "x86_64",
        "python_version": "3.11.7"},
        "benchmarks": [
            bench("peak", 0.0, {"gemm_float64_gflops": 100.0, "versions": "fastprob 0.1.0, numba 0.68.1",
                                "threads": 2, "threading_layer": "Python threads", "target": "znver4, avx512"}),
            bench("gmm_logpdf-W2-float64", 0.02, {"n": 1_000_000, "implementation": "fastprob",
                                                  "flops_per_row": 4352.0}),
            bench("gmm_logpdf-W2-float64", 0.6, {"n": 1_000_000, "implementation": "sklearn",
                                                 "flops_per_row": 4352.0}, spread=0.6),
            bench("threads-gmm_logpdf-W2-float64", 0.04, {"threads": 1}),
            bench("threads-gmm_logpdf-W2-float64", 0.02, {"threads": 2}),
            bench("paired", 0.0, {"pair": "gmm_logpdf-W2-float64 sklearn/fastprob", "n": 1_000_000, "rounds": 7,
                                  "ratio": 31.0, "low": 28.0, "high": 35.5}),
            bench("startup", 0.0, {"demo_cold_s": 12.5}),
            bench("memory-fit5-W2-float64", 0.0, {"implementation": "fastprob (given init)", "extra_MB": 20.0,
                                                  "X_MB": 122.0}),
            bench("fit5-out-of-core-bench", 1.0, {"implementation": "in-memory", "n": 1_000_000}),
            bench("fit5-out-of-core-bench", 1.1, {"implementation": "memmap", "n": 1_000_000}),
            bench("small data", 0.0, {"faithful_full_K2_ratio": 3.25}),
        ]}


def test_pytest_benchmark_files_get_the_same_writer():
    data = report.from_pytest_benchmark(_bench_json())
    md = report.markdown(data)
    for text in ("- CPU: Test CPU 9000; 2 logical CPUs; Linux 6.1 x86_64", "kernels compiled for: znver4, avx512",
                 "float64 100.0 GFLOP/s", "- threads: 2, on Python threads", "- versions: fastprob 0.1.0, numba 0.68.1",
                 "'bench' sizes, `pytest benchmarks --benchmark-enable`", "| " + " | ".join(report.HEADER) + " |"):
        assert text in md, text
    # rate: 1e6 rows * 4352 flop / 20 ms = 217.6 GFLOP/s, 218% of the 100 GFLOP/s GEMM
    assert "| W2-float64 | 1,000,000 | fastprob | 20 ms | 4 ms | 1.00× | – | – | 217.6 (218%) |" in md
    assert "| W2-float64 | 1,000,000 | sklearn | 600 ms ⚠ | 720 ms | 30.00× | – | – | 7.3 (7%) |" in md
    assert "**1 of 2 timings are unreliable**" in md
    assert "| gmm_logpdf-W2-float64 | 40 ms (1.00×) | 20 ms (2.00×) |" in md
    assert "| gmm_logpdf-W2-float64 sklearn/fastprob | 1,000,000 | 7 | 31.00× (28.00–35.50) |" in md
    assert "| demo_cold_s | 12.50 |" in md
    assert "| fastprob (given init) | 20 MB |" in md
    assert "| memmap | 1.1 s | 1.10× |" in md
    assert "| faithful_full_K2 | 3.25 |" in md


def test_table_script_prints_the_report(tmp_path):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(_bench_json()))
    proc = subprocess.run([sys.executable, "benchmarks/table.py", str(path)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == report.markdown(report.from_pytest_benchmark(_bench_json()))
    proc = subprocess.run([sys.executable, "benchmarks/table.py", str(tmp_path / "missing.json")],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 1 and "missing.json" in proc.stderr and "No such file" in proc.stderr
