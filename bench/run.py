"""Benchmark: minigrad-fn against its peers, interleaved in one process; medians and ratios.

    python bench/run.py                 # full run: prints tables, writes bench/results.json
    python bench/run.py --quick         # a smoke run (CI): tiny rounds, small chains, no claims
    python bench/run.py --only mlp      # the workloads whose name contains "mlp"

Every contender runs the same function (written once against an array module `xp`) on the same inputs.
Step time is the median over rounds of the mean time per call within a round; the rounds of all
contenders of a workload are interleaved, in a new order each round, so machine noise hits them alike. Compile time is the first
call of a freshly made jitted function (trace + lowering + XLA compilation + one run), median of a few.
Tracing time is `make_jaxpr(grad(f))` of a chain of K elementwise operations: ours as recorded (trace +
VJP transform, as JAX's make_jaxpr, which optimises nothing), and our passes on it, timed apart. Peak memory is tracemalloc's
peak during one gradient (numpy reports its buffers to tracemalloc).

Contenders: numpy by hand (the lecture's backprop, written out), HIPS autograd (when installed: it is in
the `bench` extra), jax eager `jax.grad`, `jax.jit(jax.grad)`, eager `mg.grad`, `mg.jit(mg.grad,
backend="numpy")` and `mg.jit(mg.grad)` on XLA.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import minigrad_fn as mg  # noqa: E402
import minigrad_fn.numpy as mnp  # noqa: E402

try:
    import autograd  # noqa: E402
    import autograd.numpy as anp  # noqa: E402
except ImportError:  # the `bench` extra installs it
    autograd = anp = None

JAX = "jax.jit(jax.grad)"
HAND = "numpy by hand"


# ---- the functions, written once against an array module xp ----------------------------------------------
def lecture_loss(xp, w1, w2, x, y):
    """The lecture's 2-layer net: sigmoid hidden layer, squared error summed over all entries."""
    h = 1 / (1 + xp.exp(-(x @ w1)))
    return xp.sum((h @ w2 - y) ** 2)


def lecture_by_hand(w1, w2, x, y):
    """The lecture's hand-derived backprop."""
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


def mlp_by_hand(p, x, labels):
    """The same MLP's backprop written out in numpy, keeping only what the backward pass needs."""
    n = x.shape[0]
    h1 = np.maximum(x @ p["W1"] + p["b1"], 0)
    h2 = np.maximum(h1 @ p["W2"] + p["b2"], 0)
    logits = h2 @ p["W3"] + p["b3"]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    d3 = e / e.sum(axis=1, keepdims=True)
    d3[np.arange(n), labels] -= 1
    d3 /= n
    g = {"W3": h2.T @ d3, "b3": d3.sum(axis=0)}
    d2 = (d3 @ p["W3"].T) * (h2 > 0)
    g["W2"], g["b2"] = h1.T @ d2, d2.sum(axis=0)
    d1 = (d2 @ p["W2"].T) * (h1 > 0)
    g["W1"], g["b1"] = x.T @ d1, d1.sum(axis=0)
    return g


def neuron(xp, w, x):
    """The lecture's sigmoid neuron: 5 scalars in."""
    return 1 / (1 + xp.exp(-(w[0] * x[0] + w[1] * x[1] + w[2])))


def neuron_by_hand(w, x):
    dot = w[0] * x[0] + w[1] * x[1] + w[2]
    f = 1.0 / (1 + np.exp(-dot))
    ddot = (1 - f) * f
    return np.array([x[0] * ddot, x[1] * ddot, ddot]), np.array([w[0] * ddot, w[1] * ddot])


def chain(xp, x, k):
    """k elementwise operations in a row (alternating sin and a scaling), summed."""
    for i in range(k):
        x = xp.sin(x) if i % 2 else x * 1.01
    return xp.sum(x)


# ---- workloads -----------------------------------------------------------------------------------------------
def array_workloads(rng):
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
    out.append(("mlp 784-512-512-10 N=256 float32", mlp_loss, (p, x, labels), 0, mlp_by_hand))
    w, x = np.array([2.0, -3.0, -3.0]), np.array([-1.0, -2.0])
    out.append(("sigmoid neuron (5 scalars) float64", neuron, (w, x), (0, 1), neuron_by_hand))
    return out


def contenders(loss, args, argnums, by_hand, eager_jax=True):
    """name -> (make, inputs): make() returns a fresh step function; inputs are what it is called with."""
    dev_args = jax.tree_util.tree_map(jnp.asarray, args)
    c = {}
    if by_hand is not None:
        c[HAND] = (lambda: by_hand, args)
    if anp is not None:
        c["autograd"] = (lambda: autograd.grad(lambda *a: loss(anp, *a), argnums), args)
    if eager_jax:
        c["jax.grad (eager)"] = (lambda: jax.grad(lambda *a: loss(jnp, *a), argnums), dev_args)
    c[JAX] = (lambda: jax.jit(jax.grad(lambda *a: loss(jnp, *a), argnums)), dev_args)
    c["mg.grad (eager)"] = (lambda: mg.grad(lambda *a: loss(mnp, *a), argnums), args)
    c["mg.jit(numpy)"] = (lambda: mg.jit(mg.grad(lambda *a: loss(mnp, *a), argnums), backend="numpy"), args)
    c["mg.jit(mg.grad)"] = (lambda: mg.jit(mg.grad(lambda *a: loss(mnp, *a), argnums)), dev_args)
    return c


def _x64(fn, on):
    if not on:
        return fn

    def run(*a):
        with jax.enable_x64(True):  # JAX's float64 programs need it; ours enable it per call by themselves
            return fn(*a)
    return run


def _is_x64(args) -> bool:
    return any(np.asarray(a).dtype == np.float64 for a in jax.tree_util.tree_leaves(args))


def bench_steps(name, loss, args, argnums, by_hand, rounds, calls, compiles, pause=0.0):
    return bench_group(name, contenders(loss, args, argnums, by_hand), JAX, rounds, calls, compiles, pause,
                       _is_x64(args))


def bench_group(name, cs, ref, rounds, calls, compiles, pause=0.0, x64=False):
    """Time every contender of `cs` (name -> (make, inputs)) interleaved; ratios against `ref`."""
    steps, compile_ms = {}, {}
    for cname, (make, inputs) in cs.items():
        jaxlike = cname.startswith("jax")
        if "jit" in cname:  # compile time: first call of freshly made functions
            times = []
            for _ in range(compiles):
                f = _x64(make(), jaxlike and x64)
                t = time.perf_counter()
                jax.block_until_ready(f(*inputs))
                times.append((time.perf_counter() - t) * 1e3)
            compile_ms[cname] = statistics.median(times)
        fn = _x64(make(), jaxlike and x64)
        jax.block_until_ready(fn(*inputs))  # warm up
        steps[cname] = (fn, inputs)
    per_call = {c: [] for c in steps}
    order = list(steps)
    shuffle = np.random.default_rng(1).permutation
    for _ in range(rounds):
        # a new order every round, a pause and one untimed call first: OpenBLAS's threads keep spinning for a
        # while after numpy's matrix products, and slow XLA's threads (or the next numpy) if timed at once
        for cname in [order[i] for i in shuffle(len(order))]:
            fn, inputs = steps[cname]
            time.sleep(pause)
            jax.block_until_ready(fn(*inputs))
            t = time.perf_counter()
            for _ in range(calls):
                out = fn(*inputs)
            jax.block_until_ready(out)
            per_call[cname].append((time.perf_counter() - t) / calls * 1e6)
    med = {c: statistics.median(v) for c, v in per_call.items()}
    return [{"workload": name, "contender": c, "step_us": med[c], "vs_jax_jit": med[c] / med[ref],
             "vs_by_hand": med[c] / med[HAND] if HAND in med else None, "compile_ms": compile_ms.get(c)}
            for c in steps]


def per_example_contenders(rng, batch: int = 64):
    """Per-example gradients of the lecture net (one example: a vector in, a vector out)."""
    D, H, O = 100, 50, 10
    w1 = rng.standard_normal((D, H)) / np.sqrt(D)
    w2 = rng.standard_normal((H, O))
    X, Y = rng.standard_normal((batch, D)), rng.standard_normal((batch, O))
    loss = lecture_loss
    g_mg = mg.grad(lambda w1, w2, x, y: loss(mnp, w1, w2, x, y), (0, 1))
    g_jax = jax.grad(lambda w1, w2, x, y: loss(jnp, w1, w2, x, y), (0, 1))
    axes = (None, None, 0, 0)
    args = (w1, w2, X, Y)
    dev = jax.tree_util.tree_map(jnp.asarray, args)

    def loop(*a):
        return [g_mg(a[0], a[1], a[2][i], a[3][i]) for i in range(batch)]
    return {
        "jax.jit(vmap(grad))": (lambda: jax.jit(jax.vmap(g_jax, in_axes=axes)), dev),
        "mg.jit(vmap(grad))": (lambda: mg.jit(mg.vmap(g_mg, in_axes=axes)), dev),
        "jax vmap(grad) eager": (lambda: jax.vmap(g_jax, in_axes=axes), dev),
        "mg.vmap(grad) eager": (lambda: mg.vmap(g_mg, in_axes=axes), args),
        "loop of mg.grad": (lambda: loop, args),
    }


def rnn_loss(lib, xp, W, U, h0, xs):
    """A tanh RNN over a sequence as one scan; the loss is the sum of squares of its states."""
    def cell(h, x):
        h = xp.tanh(h @ W + x @ U)
        return h, xp.sum(h * h)
    _, ys = lib.lax.scan(cell, h0, xs)
    return xp.sum(ys)


def scan_rnn_contenders(rng, steps: int = 100, width: int = 32, batch: int = 16):
    """The gradient of a scan RNN (100 steps), compiled: ours lowers to one lax.scan, as JAX's."""
    W = rng.standard_normal((width, width)) / np.sqrt(width)
    U = rng.standard_normal((width, width)) / np.sqrt(width)
    h0, xs = rng.standard_normal((batch, width)), rng.standard_normal((steps, batch, width))
    args = (W, U, h0, xs)
    dev = jax.tree_util.tree_map(jnp.asarray, args)
    return {
        "jax.jit(grad)": (lambda: jax.jit(jax.grad(lambda *a: rnn_loss(jax, jnp, *a), (0, 1))), dev),
        "mg.jit(grad)": (lambda: mg.jit(mg.grad(lambda *a: rnn_loss(mg, mnp, *a), (0, 1))), dev),
        "mg.grad eager": (lambda: mg.grad(lambda *a: rnn_loss(mg, mnp, *a), (0, 1)), args),
    }


def scan_tracing_times(lengths, repeats: int):
    """make_jaxpr of grad of a scan RNN for each length: the body is traced once, whatever the length."""
    rng = np.random.default_rng(0)
    W, U, h0 = rng.standard_normal((4, 4)), rng.standard_normal((4, 4)), rng.standard_normal(4)
    rows = []
    for n in lengths:
        xs = np.zeros((n, 4))
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            j = mg.make_jaxpr(mg.grad(lambda *a: rnn_loss(mg, mnp, *a), (0, 1)))(W, U, h0, xs)
            times.append(time.perf_counter() - t)
        rows.append({"length": n, "ms": statistics.median(times) * 1e3, "eqns": len(j.eqns)})
    return rows


def epoch_contenders(rng):
    """One epoch of the lecture net on the digits (44 steps of 32): a jitted step called per batch, against
    the whole epoch as one jitted scan (train --fused-epoch)."""
    from minigrad_fn import train as T
    X, y, _, _ = T.load_data("digits")
    params = T.init_params(X.shape[1], 64, 10)
    order = np.random.default_rng(0).permutation(len(X))
    Xb, yb = T.epoch_batches(X, y, order, 32)

    def per_step(step):
        def run(params, Xb, yb):
            for i in range(len(Xb)):
                params, _ = step(params, Xb[i], yb[i])
            return params
        return run
    return {
        "fused epoch (scan)": (lambda: T.make_epoch("relu", 0.1, 1e-4), (params, Xb, yb)),
        "jit step per batch": (lambda: per_step(T.make_step("relu", 0.1, 1e-4)), (params, Xb, yb)),
    }


def hessian_contenders(rng, n: int = 100):
    """The Hessian of a 100-input function (a quartic of tanh features), compiled."""
    A = rng.standard_normal((n, n)) / np.sqrt(n)

    def f(xp, x):
        return xp.sum(xp.tanh(A @ x) ** 2) + xp.sum(x ** 4)
    x = rng.standard_normal(n)
    return {
        "jax.jit(hessian)": (lambda: jax.jit(jax.hessian(lambda x: f(jnp, x))), (jnp.asarray(x),)),
        "mg.jit(hessian)": (lambda: mg.jit(mg.hessian(lambda x: f(mnp, x))), (jnp.asarray(x),)),
    }


def transform_tracing_times(k: int, repeats: int):
    """Trace time per equation of make_jaxpr of grad, vmap(grad) and jvp of a chain of k ops."""
    x, xs = np.ones(3), np.ones((4, 3))
    f = lambda x: chain(mnp, x, k)  # noqa: E731
    cases = {"make_jaxpr(grad(f))": (lambda: mg.make_jaxpr(mg.grad(f), optimize=False)(x)),
             "make_jaxpr(vmap(grad(f)))": (lambda: mg.make_jaxpr(mg.vmap(mg.grad(f)), optimize=False)(xs)),
             "make_jaxpr(jvp(f))": (lambda: mg.make_jaxpr(lambda x: mg.jvp(f, (x,), (x,)), optimize=False)(x))}
    rows = []
    for name, run in cases.items():
        times, n = [], 0
        for _ in range(repeats):
            t = time.perf_counter()
            n = len(run().eqns)
            times.append(time.perf_counter() - t)
        ms = statistics.median(times) * 1e3
        rows.append({"case": name, "k": k, "ms": ms, "eqns": n, "us_per_eqn": ms * 1e3 / max(n, 1)})
    return rows


def peak_memory(name, loss, args, argnums, by_hand):
    """tracemalloc's peak (bytes) during one gradient, for the numpy-based contenders."""
    rows = []
    fns = {HAND: by_hand, "mg.grad (eager)": mg.grad(lambda *a: loss(mnp, *a), argnums),
           "mg.jit(numpy)": mg.jit(mg.grad(lambda *a: loss(mnp, *a), argnums), backend="numpy")}
    if anp is not None:
        fns["autograd"] = autograd.grad(lambda *a: loss(anp, *a), argnums)
    peaks = {}
    for cname, fn in fns.items():
        fn(*args)  # warm up (tracing caches)
        gc.collect()
        tracemalloc.start()
        fn(*args)
        peaks[cname] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    for cname, peak in peaks.items():
        rows.append({"workload": name, "contender": cname, "peak_mib": peak / 2 ** 20,
                     "vs_by_hand": peak / peaks[HAND]})
    return rows


def tracing_times(ks, jax_ks, repeats):
    """Trace + VJP transform of a chain of k ops (make_jaxpr(grad(f)) as recorded), then our passes on it,
    for every k; JAX's make_jaxpr(grad(f)) for jax_ks. Medians of `repeats`."""
    from tracing import optimize
    rows = []
    x = np.ones(3)
    for k in ks:
        ours, passes = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            closed = mg.make_jaxpr(mg.grad(lambda x: chain(mnp, x, k)), optimize=False)(x)
            t1 = time.perf_counter()
            optimize(closed)
            passes.append(time.perf_counter() - t1)
            ours.append(t1 - t)
        row = {"k": k, "mg_ms": statistics.median(ours) * 1e3, "passes_ms": statistics.median(passes) * 1e3,
               "jax_ms": None}
        if k in jax_ks:
            jax.make_jaxpr(jax.grad(lambda x: chain(jnp, x, 2)))(jnp.ones(3, np.float32))  # JAX's first-use costs
            theirs = []
            for _ in range(max(1, repeats // 2)):
                t = time.perf_counter()
                jax.make_jaxpr(jax.grad(lambda x: chain(jnp, x, k)))(jnp.ones(3, np.float32))
                theirs.append(time.perf_counter() - t)
            row["jax_ms"] = statistics.median(theirs) * 1e3
        rows.append(row)
    return rows


def machine() -> dict:
    dev = jax.devices()[0]
    return {"platform": dev.platform, "device": getattr(dev, "device_kind", str(dev)),
            "cpus": os.cpu_count(), "python": platform.python_version(), "jax": jax.__version__,
            "numpy": np.__version__, "autograd": anp is not None, "machine": platform.machine()}


def _fmt(v, spec, suffix=""):
    return "" if v is None else f"{v:{spec}}{suffix}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: few rounds, short chains (for CI; no claims)")
    ap.add_argument("--only", default="", help="run the workloads whose name contains this")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results.json"))
    args = ap.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 15)
    calls, compiles = (2, 1) if args.quick else (20, 7)
    rng = np.random.default_rng(0)
    info = machine()
    result = {"machine": info, "quick": args.quick, "rounds": rounds, "calls": calls,
              "steps": [], "memory": [], "tracing": []}
    for name, loss, wargs, argnums, by_hand in array_workloads(rng):
        if args.only and args.only not in name:
            continue
        result["steps"] += bench_steps(name, loss, wargs, argnums, by_hand, rounds, calls, compiles,
                                       pause=0.0 if args.quick else 0.2)
        if "neuron" not in name:
            result["memory"] += peak_memory(name, loss, wargs, argnums, by_hand)
    if not args.only or args.only in "per-example gradients":
        result["steps"] += bench_group("per-example gradients, batch 64 f64", per_example_contenders(rng),
                                       "jax.jit(vmap(grad))", rounds, calls, compiles,
                                       pause=0.0 if args.quick else 0.2, x64=True)
    if not args.only or args.only in "hessian":
        result["steps"] += bench_group("hessian of a 100-input function f64", hessian_contenders(rng),
                                       "jax.jit(hessian)", rounds, calls, compiles,
                                       pause=0.0 if args.quick else 0.2, x64=True)
    if not args.only or args.only in "scan rnn":
        result["steps"] += bench_group("scan RNN gradient, 100 steps f64", scan_rnn_contenders(rng),
                                       "jax.jit(grad)", rounds, calls, compiles,
                                       pause=0.0 if args.quick else 0.2, x64=True)
        result["steps"] += bench_group("training epoch, digits, 44 steps", epoch_contenders(rng),
                                       "fused epoch (scan)", rounds, max(1, calls // 4), compiles,
                                       pause=0.0 if args.quick else 0.2)
        result["scan_tracing"] = scan_tracing_times((10, 100) if args.quick else (10, 1000, 10000),
                                                    1 if args.quick else 5)
    if not args.only or args.only in "chain":
        ks, jax_ks = ((10, 40), (10,)) if args.quick else ((100, 1000, 4000), (100, 1000))
        result["tracing"] = tracing_times(ks, jax_ks, 1 if args.quick else 5)
        result["transform_tracing"] = transform_tracing_times(40 if args.quick else 1000, 1 if args.quick else 5)

    print(f"# {info['platform']} ({info['device']}), {info['cpus']} CPUs, jax {info['jax']}, "
          f"numpy {info['numpy']}, Python {info['python']}; {rounds} rounds x {calls} calls")
    print(f"\n| {'workload':34} | {'contender':18} | {'step (us)':>10} | {'vs jax.jit':>10} | "
          f"{'vs by hand':>10} | {'compile (ms)':>12} |")
    print(f"|{'-' * 36}|{'-' * 20}|{'-' * 12}|{'-' * 12}|{'-' * 12}|{'-' * 14}|")
    for r in result["steps"]:
        print(f"| {r['workload']:34} | {r['contender']:18} | {r['step_us']:10.1f} | {r['vs_jax_jit']:9.2f}x | "
              f"{_fmt(r['vs_by_hand'], '.2f', 'x'):>10} | {_fmt(r['compile_ms'], '.0f'):>12} |")
    if result["memory"]:
        print(f"\n| {'peak memory of one gradient':34} | {'contender':18} | {'peak (MiB)':>10} | {'vs by hand':>10} |")
        print(f"|{'-' * 36}|{'-' * 20}|{'-' * 12}|{'-' * 12}|")
        for r in result["memory"]:
            print(f"| {r['workload']:34} | {r['contender']:18} | {r['peak_mib']:10.2f} | {r['vs_by_hand']:9.2f}x |")
    if result["tracing"]:
        print(f"\n| {'trace + VJP of a chain of k ops':34} | {'mg (ms)':>10} | {'jax (ms)':>10} | {'jax / mg':>10} |"
              f" {'mg passes':>10} |")
        print(f"|{'-' * 36}|{'-' * 12}|{'-' * 12}|{'-' * 12}|{'-' * 12}|")
        for r in result["tracing"]:
            ratio = r["jax_ms"] / r["mg_ms"] if r["jax_ms"] else None
            print(f"| {'k = ' + str(r['k']):34} | {r['mg_ms']:10.1f} | {_fmt(r['jax_ms'], '10.1f'):>10} | "
                  f"{_fmt(ratio, '.1f', 'x'):>10} | {r['passes_ms']:10.1f} |")
        if result.get("transform_tracing"):
            print(f"\n| {'trace time per equation':34} | {'eqns':>10} | {'ms':>10} | {'us / eqn':>10} |")
            print(f"|{'-' * 36}|{'-' * 12}|{'-' * 12}|{'-' * 12}|")
            for r in result["transform_tracing"]:
                print(f"| {r['case']:34} | {r['eqns']:10d} | {r['ms']:10.1f} | {r['us_per_eqn']:10.2f} |")
        t = {r["k"]: r["mg_ms"] for r in result["tracing"]}
        if 1000 in t and 4000 in t:
            print(f"growth 1000 -> 4000 ops: {t[4000] / t[1000]:.2f}x (linear would be 4x)")
    if result.get("scan_tracing"):
        print(f"\n| {'make_jaxpr(grad) of a scan RNN':34} | {'eqns':>10} | {'ms':>10} |")
        print(f"|{'-' * 36}|{'-' * 12}|{'-' * 12}|")
        for r in result["scan_tracing"]:
            print(f"| {'length ' + str(r['length']):34} | {r['eqns']:10d} | {r['ms']:10.1f} |")
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
