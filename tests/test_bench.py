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
    result = bench.main(["--quick", "--only", "neuron", "--out", str(out)])
    data = json.loads(out.read_text())
    assert data["quick"] and len(data["steps"]) == len(result["steps"]) >= 6
    assert {"numpy by hand", "jax.grad (eager)", "jax.jit(jax.grad)", "mg.grad (eager)", "mg.jit(numpy)",
            "mg.jit(mg.grad)"} <= {r["contender"] for r in result["steps"]}
    assert all(r["step_us"] > 0 for r in result["steps"])
    assert "| sigmoid neuron (5 scalars) float64" in capsys.readouterr().out
    # every contender computed the same gradient as the hand-written one
    w, x = bench.np.array([2.0, -3.0, -3.0]), bench.np.array([-1.0, -2.0])
    want = bench.neuron_by_hand(w, x)
    for name, (make, inputs) in bench.contenders(bench.neuron, (w, x), (0, 1), bench.neuron_by_hand).items():
        fn = bench._x64(make(), name.startswith("jax"))
        for got, ref in zip(fn(*inputs), want):
            bench.np.testing.assert_allclose(bench.np.asarray(got), ref, rtol=1e-12, err_msg=name)


def test_hand_written_mlp_backprop_is_right():
    spec = importlib.util.spec_from_file_location("bench_run", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rng = bench.np.random.default_rng(0)
    p = {"W1": rng.standard_normal((6, 5)), "b1": rng.standard_normal(5), "W2": rng.standard_normal((5, 4)),
         "b2": rng.standard_normal(4), "W3": rng.standard_normal((4, 3)), "b3": rng.standard_normal(3)}
    x, labels = rng.standard_normal((7, 6)), rng.integers(0, 3, 7)
    ours = bench.mg.grad(lambda p: bench.mlp_loss(bench.mnp, p, x, labels))(p)
    hand = bench.mlp_by_hand(p, x, labels)
    for k in p:
        bench.np.testing.assert_allclose(hand[k], ours[k], rtol=1e-10, atol=1e-12, err_msg=k)
