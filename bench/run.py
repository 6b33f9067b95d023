"""Benchmark: minigrad-fn against its peers, interleaved in one process; medians and ratios.

    python bench/run.py                 # full run: prints a table, writes bench/results.json
    python bench/run.py --quick         # a smoke run (CI): tiny rounds, no claims
    python bench/run.py --only mlp      # workloads whose name contains "mlp"

Every contender runs the same function (written once against an array module `xp`) on the same inputs.
Steady-state time is the median over rounds of the mean time per call within a round; the rounds of all
contenders of a workload are interleaved, so machine noise hits them alike. Compile time is the first call
of a freshly made jitted function (trace + lowering + XLA compilation + one run), median of a few.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import minigrad_fn as mg  # noqa: E402
import minigrad_fn.numpy as mnp  # noqa: E402


# ---- workloads: (name, dtype, loss(xp, *args), args, argnums, hand-written gradient or None) --------
def lecture_loss(xp, w1, w2, x, y):
    """The lecture's 2-layer net: sigmoid hidden layer, squared error summed over all entries."""
    h = 1 / (1 + xp.exp(-(x @ w1)))
    return xp.sum((h @ w2 - y) ** 2)


def lecture_by_hand(w1, w2, x, y):
    """The lecture's hand-derived backprop, in numpy."""
    h = 1 / (1 + np.exp(-x.dot(w1)))
    y_pred = h.dot(w2)
    grad_y = 2 * (y_pred - y)
    grad_w2 = h.T.dot(grad_y)
    grad_h = grad_y.dot(w2.T)
    grad_w1 = x.T.dot(grad_h * h * (1 - h))
    return grad_w1, grad_w2


def mlp_loss(xp, p, x, labels):
    """3-layer ReLU MLP, softmax cross-entropy (mean over the batch)."""
    h = xp.maximum(x @ p["W1"] + p["b1"], 0)
    h = xp.maximum(h @ p["W2"] + p["b2"], 0)
    logits = h @ p["W3"] + p["b3"]
    m = xp.max(logits, axis=1, keepdims=True)
    lse = xp.log(xp.sum(xp.exp(logits - m), axis=1)) + m[:, 0]
    return xp.mean(lse - logits[xp.arange(x.shape[0]), labels])


def workloads(rng):
    out = []
    for dt in (np.float64, np.float32):
        N, D, H, O = 64, 1000, 100, 10
        # w1 scaled by 1/sqrt(D): the lecture's raw randn makes exp overflow in float32 (inf and nan
        # would time the slow paths of the floating-point unit, not the programs)
        args = (rng.standard_normal((D, H)).astype(dt) / np.sqrt(D).astype(dt), rng.standard_normal((H, O)).astype(dt),
                rng.standard_normal((N, D)).astype(dt), rng.standard_normal((N, O)).astype(dt))
        out.append((f"lecture 2-layer net {np.dtype(dt).name}", lecture_loss, args, (0, 1), lecture_by_hand))
    dims = (784, 512, 512, 10)
    p = {}
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:]), 1):
        p[f"W{i}"] = (rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(np.float32)
        p[f"b{i}"] = np.zeros(b, np.float32)
    x = rng.standard_normal((256, 784)).astype(np.float32)
    labels = rng.integers(0, 10, 256)
    out.append(("mlp 784-512-512-10 N=256 float32", mlp_loss, (p, x, labels), 0, None))
    return out


# ---- contenders ------------------------------------------------------------------------------------------
def contenders(loss, args, argnums, by_hand):
    """name -> (make, inputs): make() returns a fresh step function; inputs are what it is called with."""
    dev_args = jax.tree_util.tree_map(jnp.asarray, args)
    f_mg = lambda *a: loss(mnp, *a)  # noqa: E731
    f_jax = lambda *a: loss(jnp, *a)  # noqa: E731
    c = {}
    if by_hand is not None:
        c["numpy by hand"] = (lambda: by_hand, args)
    c["mg.grad (eager)"] = (lambda: mg.grad(f_mg, argnums), args)
    c["jax.jit(jax.grad)"] = (lambda: jax.jit(jax.grad(lambda *a: f_jax(*a), argnums)), dev_args)
    c["mg.jit(mg.grad)"] = (lambda: mg.jit(mg.grad(lambda *a: f_mg(*a), argnums)), dev_args)
    return c


def _x64(fn):
    def run(*a):
        with jax.enable_x64(True):  # JAX's float64 programs need it; ours enable it per call by themselves
            return fn(*a)
    return run


def bench_workload(name, loss, args, argnums, by_hand, rounds, calls, compiles):
    cs = contenders(loss, args, argnums, by_hand)
    x64 = any(np.asarray(a).dtype == np.float64 for a in jax.tree_util.tree_leaves(args))
    steps, compile_ms = {}, {}
    for cname, (make, inputs) in cs.items():
        fn = make()
        if cname.startswith("jax") and x64:
            fn = _x64(fn)
        steps[cname] = (fn, inputs)
        if "jit" in cname:  # compile time: first call of freshly made functions
            times = []
            for _ in range(compiles):
                f = make()
                f = _x64(f) if cname.startswith("jax") and x64 else f
                t = time.perf_counter()
                jax.block_until_ready(f(*inputs))
                times.append((time.perf_counter() - t) * 1e3)
            compile_ms[cname] = statistics.median(times)
        jax.block_until_ready(fn(*inputs))  # warm up
    per_call = {c: [] for c in steps}
    for _ in range(rounds):
        for cname, (fn, inputs) in steps.items():
            t = time.perf_counter()
            for _ in range(calls):
                out = fn(*inputs)
            jax.block_until_ready(out)
            per_call[cname].append((time.perf_counter() - t) / calls * 1e6)
    med = {c: statistics.median(v) for c, v in per_call.items()}
    rows = []
    for cname in steps:
        rows.append({"workload": name, "contender": cname, "step_us": med[cname],
                     "vs_jax_jit": med[cname] / med["jax.jit(jax.grad)"],
                     "vs_by_hand": med[cname] / med["numpy by hand"] if "numpy by hand" in med else None,
                     "compile_ms": compile_ms.get(cname)})
    return rows


def machine() -> dict:
    dev = jax.devices()[0]
    return {"platform": dev.platform, "device": getattr(dev, "device_kind", str(dev)),
            "cpus": os.cpu_count(), "python": platform.python_version(), "jax": jax.__version__,
            "numpy": np.__version__, "machine": platform.machine()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: few rounds (for CI; no claims)")
    ap.add_argument("--only", default="", help="run the workloads whose name contains this")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.json"))
    args = ap.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 15)
    calls, compiles = (2, 1) if args.quick else (20, 3)
    rng = np.random.default_rng(0)
    rows = []
    for name, loss, wargs, argnums, by_hand in workloads(rng):
        if args.only and args.only not in name:
            continue
        rows += bench_workload(name, loss, wargs, argnums, by_hand, rounds, calls, compiles)
    info = machine()
    print(f"# {info['platform']} ({info['device']}), {info['cpus']} CPUs, jax {info['jax']}, "
          f"numpy {info['numpy']}, Python {info['python']}; {rounds} rounds x {calls} calls")
    print(f"| {'workload':34} | {'contender':20} | {'step (us)':>10} | {'vs jax.jit':>10} | "
          f"{'vs by hand':>10} | {'compile (ms)':>12} |")
    print(f"|{'-' * 36}|{'-' * 22}|{'-' * 12}|{'-' * 12}|{'-' * 12}|{'-' * 14}|")
    for r in rows:
        hand = f"{r['vs_by_hand']:.2f}x" if r["vs_by_hand"] is not None else ""
        comp = f"{r['compile_ms']:.0f}" if r["compile_ms"] is not None else ""
        print(f"| {r['workload']:34} | {r['contender']:20} | {r['step_us']:10.1f} | {r['vs_jax_jit']:9.2f}x | "
              f"{hand:>10} | {comp:>12} |")
    with open(args.out, "w") as f:
        json.dump({"machine": info, "quick": args.quick, "rounds": rounds, "calls": calls, "rows": rows}, f,
                  indent=1)
    print(f"wrote {args.out}")
    return rows


if __name__ == "__main__":
    main()
