"""The benchmark script runs (a smoke run: no timing is asserted; the figures are the script's output)."""
import importlib.util
import json
import os

BENCH = os.path.join(os.path.dirname(__file__), "..", "bench", "run.py")


def test_benchmark_quick_mode_runs_and_writes_json(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_run", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "results.json"
    rows = bench.main(["--quick", "--only", "lecture", "--out", str(out)])
    data = json.loads(out.read_text())
    assert data["quick"] and len(data["rows"]) == len(rows) == 8
    assert {r["contender"] for r in rows} == {"numpy by hand", "mg.grad (eager)", "jax.jit(jax.grad)",
                                              "mg.jit(mg.grad)"}
    assert all(r["step_us"] > 0 for r in rows)
    assert "| lecture 2-layer net float32" in capsys.readouterr().out
