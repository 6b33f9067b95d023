"""check_grads: our VJP against JAX's autodiff of the same program, and against finite differences.

For a function and arguments, draw a random cotangent `u` of the output and compare, for every
floating-point leaf of the arguments:

- our `vjp(fun, *args)[1](u)` with `jax.vjp` of the *forward IR lowered to JAX*, so JAX's own rules
  differentiate exactly the program our rules differentiated (and the lowered forward values are compared
  with ours);
- the directional derivative of `<u, fun(args)>` along random directions, by central finite differences
  in float64, with the same directions applied to our gradient.

`order=2` then checks the VJP function itself (`args -> vjp(fun, *args)[1](u)`) the same way: JAX and
finite differences differentiate our backward program.
"""
from __future__ import annotations

import functools
import os
from typing import Callable, Sequence

import numpy as np

from tracing import Var, aval_of, check_args, has_subjaxprs, leaf_names, source_line, tree_flatten, tree_unflatten

from .autodiff import vjp
from .forward import jvp
from .compiler import _jax, jit, lower_jaxpr

_RTOL = {np.dtype(np.float64): 1e-7, np.dtype(np.float32): 2e-4, np.dtype(np.float16): 2e-2}
_FD_RTOL = {np.dtype(np.float64): 1e-5, np.dtype(np.float32): 3e-3, np.dtype(np.float16): 5e-2}


def check_grads(fun: Callable, args: Sequence, order: int = 1, atol: float | None = None,
                rtol: float | None = None, eps: float | None = None, seed: int = 0,
                modes: Sequence[str] = ("rev",)) -> None:
    """Raise an AssertionError unless our gradients of `fun` at `args` agree with JAX and finite differences.

    `args` is the tuple of positional arguments (pytrees of arrays). Tolerances default by dtype
    (float64: rtol 1e-7 against JAX, 1e-5 against finite differences; float32 looser); `eps` is the
    finite-difference step (default 1e-6, in float64). `order=2` also checks grad-of-grad.
    `modes` says which of reverse mode ("rev": our VJP) and forward mode ("fwd": our JVP, against
    jax.jvp of the same program and finite differences along the same random direction) to check, as
    JAX's and autograd's check_grads do.
    """
    args = tuple(args)
    if order < 1:
        raise ValueError(f"check_grads: order must be 1 or more, got {order}")
    name = getattr(fun, "__name__", type(fun).__name__)
    check_args(fun, args, f"check_grads({name})")
    modes = (modes,) if isinstance(modes, str) else tuple(modes)
    if not modes or set(modes) - {"rev", "fwd"}:
        raise ValueError(f"check_grads: modes must be a subset of ('rev', 'fwd'), got {modes}")
    rng = np.random.default_rng(seed)
    if "fwd" in modes:
        _blaming(_check_forward, ("jvp",), fun, args, atol, rtol, eps, np.random.default_rng(seed + 1000), name)
    if "rev" not in modes:
        if order > 1:
            @functools.wraps(fun)  # the same argument names in reports
            def jvp_of(*a):
                return jvp(fun, a, tuple(_ones_like_floats(x) for x in a))[1]
            jvp_of.__name__ = f"jvp({name})"
            check_grads(jvp_of, args, order - 1, atol, rtol, eps, seed + 1, modes)
        return
    u = _blaming(_check_once, ("vjp",), fun, args, atol, rtol, eps, rng, name)
    if order > 1 and u is not None:
        @functools.wraps(fun)  # the same argument names in reports
        def vjp_of(*a):
            out, vjp_fn = vjp(fun, *a)
            return vjp_fn(u)
        vjp_of.__name__ = f"vjp({name})"
        check_grads(vjp_of, args, order - 1, atol, rtol, eps, seed + 1, modes)


def _blaming(check, rules, fun, args, *rest):
    """Run a check; when it fails, name the first equation of the program whose own rule is wrong."""
    try:
        return check(fun, args, *rest)
    except AssertionError as e:
        failure = e
    raise AssertionError(f"{failure}\n{blame(fun, args, rules)}") from None


def blame(fun, args, rules=("vjp",)) -> str:
    """The first equation of fun's forward program (at args) whose `rules` disagree with JAX's autodiff of
    its lowering and with finite differences on that equation's own input values (`check_equation`), as
    a report naming the primitive, its operand shapes and the user's line; equations inside calls are
    checked one by one."""
    lowered = jit(fun, backend="numpy").lower(*args)
    leaves = [np.asarray(x) for x in tree_flatten(args)[0]]
    found = _first_wrong(lowered.jaxpr, list(lowered.entry.consts) + leaves, tuple(rules))
    kind = "/".join(r.upper() for r in rules)
    if found is None:
        return (f"Every equation's {kind} rule agrees with JAX and finite differences on its own inputs: "
                "look at how the rules compose (a cotangent dropped or counted twice), or at the tolerances.")
    eqn, ins, problems = found
    where = source_line(eqn.source) or "no user line (an equation the library made)"
    defined = "; ".join(filter(None, (_rule_source(eqn.prim, r) for r in rules)))
    return (f"The first equation whose {kind} rule is wrong on its own inputs: "
            f"{_describe(eqn.prim, ins, eqn.params)}\n  at {where}\n    " + "\n    ".join(problems)
            + (f"\n  the rule: {defined}" if defined else ""))


def _rule_source(prim, rule: str) -> str:
    """Where a primitive's rule is written: `elementwise.py:128` (its per-operand rules where it has them)."""
    fn = prim.rules.get(rule)
    fn = getattr(fn, "bwd", fn)  # a VJP: its backward part
    parts = [f for f in getattr(fn, "rules", [fn]) if f is not None]
    places = [f"{os.path.basename(c.co_filename)}:{c.co_firstlineno}"
              for c in (getattr(f, "__code__", None) for f in parts) if c is not None]
    return f"{prim.name}'s {rule} at {', '.join(dict.fromkeys(places))}" if places else ""


def _first_wrong(jaxpr, args, rules):
    rng = np.random.default_rng(0)
    env = dict(zip(jaxpr.invars, args))
    for eqn in jaxpr.eqns:
        ins = [env[v] if type(v) is Var else v.val for v in eqn.invars]
        if has_subjaxprs(eqn):
            found = _first_wrong(eqn.params["jaxpr"], ins, rules)
            if found is not None:
                return found
        else:
            problems = check_equation(eqn.prim, ins, eqn.params, rules, rng)
            if problems:
                return eqn, ins, problems
        outs = eqn.prim.impl(*ins, **eqn.params)
        env.update(zip(eqn.outvars, outs if eqn.prim.multiple_results else [outs]))
    return None


def _least_precise(dtypes) -> np.dtype:
    floats = [np.dtype(d) for d in dtypes if np.dtype(d).kind == "f"]
    return min(floats, key=lambda d: d.itemsize) if floats else np.dtype(np.float64)


def _is_float(x) -> bool:
    return aval_of(x).dtype.kind == "f"


class _Program:
    """fun at args as our optimised forward IR, and that IR lowered to JAX as a function of the float leaves."""

    def __init__(self, fun, args, rtol):
        lowered = jit(fun, backend="numpy").lower(*args)
        self.body, self.consts, self.out_tree = lowered.jaxpr, list(lowered.entry.consts), lowered.entry.out_tree
        leaves, self.tree = tree_flatten(args)
        self.leaves = [np.asarray(x) for x in leaves]
        self.names = leaf_names(fun, args)
        self.diff = [i for i, x in enumerate(self.leaves) if _is_float(x)]
        self.text = str(self.body)
        # default tolerances follow the least precise float anywhere in the program: a float64 result
        # computed through float32 intermediates carries float32 rounding
        self.low = _least_precise([self.leaves[i].dtype for i in self.diff]
                                  + [v.aval.dtype for e in self.body.eqns for v in e.outvars])
        self.rtol = rtol

    def tol(self, table, dtype):
        return self.rtol if self.rtol is not None else max(table.get(dtype, 1e-7), table.get(self.low, 1e-7))

    def lowered(self, *d):
        """The forward IR on JAX values, as a function of the float leaves."""
        full = list(self.leaves)
        for i, x in zip(self.diff, d):
            full[i] = x
        return lower_jaxpr(self.body, self.consts + full)


def _check_once(fun, args, atol, rtol, eps, rng, name):
    jax = _jax()
    prog = _Program(fun, args, rtol)
    out_tree, leaves, tree, names, diff = prog.out_tree, prog.leaves, prog.tree, prog.names, prog.diff
    if not diff:
        return None
    tol_for, lowered_fun = prog.tol, prog.lowered

    out, vjp_fn = vjp(fun, *args)
    outs = [np.asarray(o) for o in tree_flatten(out)[0]]
    u = [rng.standard_normal(o.shape).astype(o.dtype) if _is_float(o) else np.zeros(o.shape, o.dtype)
         for o in outs]
    ours = [np.asarray(g) for g in tree_flatten(vjp_fn(tree_unflatten(out_tree, u)))[0]]
    program = prog.text

    # (a) JAX differentiates the lowered forward program
    with jax.enable_x64(True):
        jax_outs, jax_vjp = jax.vjp(lowered_fun, *[jax.numpy.asarray(leaves[i]) for i in diff])
        jax_cts = [jax.numpy.asarray(c) if _is_float(c) else np.zeros(c.shape, jax.dtypes.float0)
                   for c in u]
        theirs = [np.asarray(g) for g in jax_vjp(jax_cts)]
    for k, (o, j) in enumerate(zip(outs, jax_outs)):
        tol = tol_for(_RTOL, o.dtype)
        _compare(name, f"output {k}: our value vs the IR lowered to JAX", o, np.asarray(j), tol, atol, program)
    for i, t in zip(diff, theirs):
        tol = tol_for(_RTOL, leaves[i].dtype)
        _compare(name, f"gradient w.r.t. {names[i]}: ours vs jax.vjp of the same program", ours[i], t, tol, atol,
                 program)

    # (b) central finite differences of <u, fun(x)> in float64, along random directions
    step = eps if eps is not None else 1e-6
    wide = [x.astype(np.float64) if _is_float(x) else x for x in leaves]

    def inner(xs) -> float:
        o = tree_flatten(fun(*tree_unflatten(tree, xs)))[0]
        return float(sum(np.sum(np.asarray(a, np.float64) * c) for a, c in zip(o, u) if _is_float(c)))

    for i in diff:
        tol = tol_for(_FD_RTOL, leaves[i].dtype)
        for _ in range(2):
            v = rng.standard_normal(leaves[i].shape)
            hi, lo = list(wide), list(wide)
            hi[i], lo[i] = wide[i] + step * v, wide[i] - step * v
            fd = (inner(hi) - inner(lo)) / (2 * step)
            an = float(np.sum(ours[i].astype(np.float64) * v))
            _compare(name, f"gradient w.r.t. {names[i]}: ours vs central finite differences (eps={step}) along a "
                     "random direction", np.array(an), np.array(fd), tol, atol, program)
    return tree_unflatten(out_tree, u)


def _ones_like_floats(x):
    a = aval_of(x)
    return np.ones(a.shape, a.dtype) if a.dtype.kind == "f" else x


def _check_forward(fun, args, atol, rtol, eps, rng, name):
    """Our JVP along a random direction against jax.jvp of the lowered forward IR and finite differences."""
    jax = _jax()
    prog = _Program(fun, args, rtol)
    leaves, tree, names, diff, program = prog.leaves, prog.tree, prog.names, prog.diff, prog.text
    if not diff:
        return
    v = [rng.standard_normal(x.shape).astype(x.dtype) if _is_float(x) else np.zeros(x.shape, x.dtype)
         for x in leaves]
    out, tout = jvp(fun, args, tree_unflatten(tree, v))
    ours = [np.asarray(t) for t in tree_flatten(tout)[0]]
    outs = [np.asarray(o) for o in tree_flatten(out)[0]]
    lowered_fun = prog.lowered

    with jax.enable_x64(True):
        _, theirs = jax.jvp(lowered_fun, tuple(jax.numpy.asarray(leaves[i]) for i in diff),
                            tuple(jax.numpy.asarray(v[i]) for i in diff))
    step = eps if eps is not None else 1e-6
    wide = [x.astype(np.float64) if _is_float(x) else x for x in leaves]
    hi = [x + step * t if _is_float(x) else x for x, t in zip(wide, v)]
    lo = [x - step * t if _is_float(x) else x for x, t in zip(wide, v)]
    f_hi = tree_flatten(fun(*tree_unflatten(tree, hi)))[0]
    f_lo = tree_flatten(fun(*tree_unflatten(tree, lo)))[0]
    for k, (o, t, j) in enumerate(zip(outs, ours, theirs)):
        if not _is_float(o):
            continue
        _compare(name, f"tangent of output {k}: ours vs jax.jvp of the same program", t, np.asarray(j),
                 prog.tol(_RTOL, o.dtype), atol, program)
        fd = (np.asarray(f_hi[k], np.float64) - np.asarray(f_lo[k], np.float64)) / (2 * step)
        ftol = prog.tol(_FD_RTOL, o.dtype)
        _compare(name, f"tangent of output {k}: ours vs central finite differences (eps={step}) along a random "
                 f"direction of {', '.join(names[i] for i in diff)}", t, fd, ftol, atol, program)


def _compare(name, what, ours, ref, rtol, atol, program):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    if ours.shape != ref.shape:
        raise AssertionError(f"check_grads({name}): {what}: shapes differ, {ours.shape} vs {ref.shape}\n{program}")
    scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
    a = atol if atol is not None else rtol * scale
    err = np.abs(ours - ref)
    bad = ~(err <= a + rtol * np.abs(ref))
    bad |= np.isnan(ours) != np.isnan(ref)
    if np.any(bad):
        rel = err / np.maximum(np.abs(ref), np.finfo(np.float64).tiny)
        first = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape)) if bad.ndim else ()
        raise AssertionError(
            f"check_grads({name}): {what} disagree at {int(bad.sum())} of {bad.size} entries "
            f"(rtol={rtol}, atol={a:.3g})\n"
            f"  max abs error {np.nanmax(err):.6g}, max rel error {np.nanmax(rel):.6g}; "
            f"first at index {first}: ours {float(ours[first])!r}, reference {float(ref[first])!r}\n"
            f"the program (forward IR):\n{program}")


# ---------------------------------------------------------------------------------------------
# One equation's rules: check_rules sweeps every primitive; check_grads blames the first wrong one

_RULE_RTOL, _RULE_FD_RTOL, _FD_EPS = 1e-9, 1e-6, 1e-6
_BATCH = 3  # examples in a batch


class Sampler:
    """What a primitive's `rules["example"](s) -> (operands, params)` draws from (hypothesis drives it in
    check_rules): shapes and parameters are drawn, values come from a generator seeded by a draw.
    Values default to float64 in [-2, 2]; a rule with a smaller domain asks for it (`low=0.1` for log)."""

    def __init__(self, draw):
        from hypothesis import strategies as st
        self._draw, self._st = draw, st
        self.rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))

    def shape(self, min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> tuple:
        st = self._st
        n = self._draw(st.integers(min_dims, max_dims))
        return tuple(self._draw(st.integers(min_side, max_side)) for _ in range(n))

    def broadcastable(self, shape: tuple) -> tuple:
        """A shape that numpy-broadcasts to `shape` (leading axes dropped, some sides 1)."""
        drop = self._draw(self._st.integers(0, len(shape)))
        return tuple(1 if self.boolean() else d for d in shape[drop:])

    def floats(self, shape: tuple = (), low: float = -2.0, high: float = 2.0, dtype=np.float64) -> np.ndarray:
        return self.rng.uniform(low, high, shape).astype(dtype)

    def integers(self, low: int, high: int, shape: tuple | None = None):
        """An int in [low, high) (a draw), or an int64 array of them (from the generator)."""
        if shape is None:
            return self._draw(self._st.integers(low, high - 1))
        return self.rng.integers(low, high, shape)

    def choice(self, options: Sequence):
        return self._draw(self._st.sampled_from(list(options)))

    def boolean(self) -> bool:
        return self._draw(self._st.booleans())

    def axes(self, ndim: int, min_size: int = 0, max_size: int | None = None) -> tuple:
        """Distinct axes of an ndim-array, sorted."""
        st = self._st
        if ndim == 0:
            return ()
        k = self._draw(st.integers(min(min_size, ndim), ndim if max_size is None else min(max_size, ndim)))
        return tuple(sorted(self._draw(st.permutations(range(ndim)))[:k]))

    def permutation(self, n: int) -> tuple:
        return tuple(self._draw(self._st.permutations(range(n))))


def _is_float_array(x) -> bool:
    return np.asarray(x).dtype.kind == "f"


def _describe(prim, operands, params) -> str:
    ops = ", ".join(f"{np.asarray(x).dtype.name}{list(np.shape(x))}" for x in operands)
    shown = {k: v for k, v in params.items() if not isinstance(v, np.ndarray) or v.size <= 8}
    return f"{prim.name}({ops}{', ' if params else ''}{', '.join(f'{k}={v!r}' for k, v in shown.items())})"


def _close(what, ours, ref, rtol) -> str | None:
    """'' when the arrays agree (relative to the larger magnitude), else the description of the worst entry."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    if ours.shape != ref.shape:
        return f"{what}: shapes differ, {ours.shape} vs {ref.shape}"
    if not ours.size:
        return None
    scale = max(1.0, float(np.max(np.abs(ref))))
    err = np.abs(ours - ref)
    bad = ~(err <= rtol * scale) | (np.isnan(ours) != np.isnan(ref))
    if not bad.any():
        return None
    worst = int(np.argmax(np.where(bad, err, -1)))
    i = tuple(int(k) for k in np.unravel_index(worst, bad.shape)) if bad.ndim else ()
    return (f"{what}: disagree at {int(bad.sum())} of {bad.size} entries; worst at {i}: ours {ours[i].item()!r}, "
            f"reference {ref[i].item()!r}")


def check_equation(prim, operands: Sequence, params: dict, rules: Sequence[str] = ("vjp", "jvp", "batch"),
                   rng: np.random.Generator | None = None) -> list[str]:
    """The problems (empty: none) of `prim`'s rules on these operands, each checked on its own:

    - "vjp": our VJP for a random cotangent against `jax.vjp` of the primitive's lowering, and against
      central finite differences of its numpy implementation along random directions;
    - "jvp": our JVP along a random tangent against `jax.jvp` of the lowering and finite differences;
    - "batch": vmap over a batch of examples (the operands' values permuted, so they stay in the
      domain) at a drawn batch axis per operand, against a loop of the implementation.
    """
    jax = _jax()
    rng = np.random.default_rng(0) if rng is None else rng
    operands = [np.asarray(x) for x in operands]
    diff = [i for i, x in enumerate(operands) if _is_float_array(x)]
    problems: list[str] = []
    multiple = prim.multiple_results

    def full(d):
        xs = list(operands)
        for i, x in zip(diff, d):
            xs[i] = x
        return xs

    def ours_f(*d):
        out = prim.bind(*full(d), **params)
        return list(out) if multiple else [out]

    def impl_f(*d):
        out = prim.impl(*full(d), **params)
        return [np.asarray(o) for o in (out if multiple else [out])]

    def lowered_f(*d):
        out = prim.rules["lower"](*full(d), **params)
        return list(out) if multiple else [out]

    outs = impl_f(*[operands[i] for i in diff])
    float_outs = [k for k, o in enumerate(outs) if _is_float_array(o)]
    smooth = bool(diff) and bool(float_outs)
    x0 = [operands[i] for i in diff]

    if "vjp" in rules and smooth and "vjp" in prim.rules:
        u = [rng.standard_normal(o.shape).astype(o.dtype) if _is_float_array(o) else np.zeros(o.shape, o.dtype)
             for o in outs]
        _, back = vjp(ours_f, *x0)
        ours = [np.asarray(g) for g in back(u)]
        with jax.enable_x64(True):
            _, jback = jax.vjp(lowered_f, *x0)
            theirs = jback([c if _is_float_array(c) else np.zeros(c.shape, jax.dtypes.float0) for c in u])
        for i, a, b in zip(diff, ours, theirs):
            problems.append(_close(f"VJP w.r.t. operand {i} vs jax.vjp of its lowering", a, b, _RULE_RTOL))
        for _ in range(2):
            v = [rng.standard_normal(x.shape) for x in x0]
            hi = impl_f(*[x + _FD_EPS * t for x, t in zip(x0, v)])
            lo = impl_f(*[x - _FD_EPS * t for x, t in zip(x0, v)])
            fd = sum(float(np.sum((h - l) * c)) for h, l, c in zip(hi, lo, u) if _is_float_array(c)) / (2 * _FD_EPS)
            an = sum(float(np.sum(g * t)) for g, t in zip(ours, v))
            problems.append(_close("VJP vs central finite differences of the implementation along a random "
                                   "direction", an, fd, _RULE_FD_RTOL))
    if "jvp" in rules and smooth and "jvp" in prim.rules:
        t = [rng.standard_normal(x.shape).astype(x.dtype) for x in x0]
        _, tout = jvp(ours_f, tuple(x0), tuple(t))
        with jax.enable_x64(True):
            _, jtout = jax.jvp(lowered_f, tuple(x0), tuple(t))
        hi = impl_f(*[x + _FD_EPS * d for x, d in zip(x0, t)])
        lo = impl_f(*[x - _FD_EPS * d for x, d in zip(x0, t)])
        for k in float_outs:
            problems.append(_close(f"JVP (output {k}) vs jax.jvp of its lowering", tout[k], jtout[k], _RULE_RTOL))
            problems.append(_close(f"JVP (output {k}) vs central finite differences of the implementation",
                                   tout[k], (hi[k] - lo[k]) / (2 * _FD_EPS), _RULE_FD_RTOL))
    if "batch" in rules and "batch" in prim.rules and operands:  # (iota has nothing to batch)
        problems.append(_check_batch(prim, operands, params, rng))
    return [p for p in problems if p]


def _check_batch(prim, operands, params, rng) -> str | None:
    from .batching import vmap
    axes = [None if rng.random() < 0.3 else int(rng.integers(0, np.ndim(x) + 1)) for x in operands]
    if all(a is None for a in axes):
        axes[int(rng.integers(len(operands)))] = 0
    members = [[x if a is None or k == 0 else rng.permutation(x.ravel()).reshape(x.shape)
                for k in range(_BATCH)] for x, a in zip(operands, axes)]
    stacked = [x if a is None else np.stack(m, axis=a) for x, a, m in zip(operands, axes, members)]

    def one(*xs):
        return prim.bind(*xs, **params)
    got = vmap(one, in_axes=tuple(axes))(*stacked)
    got = list(got) if prim.multiple_results else [got]
    for k in range(_BATCH):
        want = prim.impl(*[m[k] for m in members], **params)
        want = list(want) if prim.multiple_results else [want]
        for j, (g, w) in enumerate(zip(got, want)):
            g, w = np.asarray(g)[k], np.asarray(w)
            same = g.dtype == w.dtype and g.shape == w.shape and (
                np.allclose(g, w, rtol=1e-12, atol=1e-12, equal_nan=True) if g.dtype.kind == "f"
                else np.array_equal(g, w))
            if not same:
                return (f"batching (in_axes={tuple(axes)}): output {j} of example {k} is "
                        f"{g.dtype.name}{list(g.shape)} {g!r}; the implementation gives "
                        f"{w.dtype.name}{list(w.shape)} {w!r}")
    return None


def _rule_test(prim, example, rules, max_examples, seed):
    """A hypothesis test of prim's rules on its examples (raises AssertionError with the smallest failure)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st

    # the first failing example is reported as drawn (small already): no shrinking, so a sweep stays quick
    @hseed(seed)
    @settings(max_examples=max_examples, deadline=None, database=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.generate])
    @given(st.data())
    def run(data):
        s = Sampler(data.draw)
        operands, params = example(s)
        problems = check_equation(prim, operands, params, rules, s.rng)
        if problems:
            raise AssertionError(f"{_describe(prim, operands, params)}:\n    " + "\n    ".join(problems))
    return run


def check_rules(prims: Sequence | None = None, rules: Sequence[str] = ("vjp", "jvp", "batch"),
                max_examples: int = 10, seed: int = 0) -> list[str]:
    """Check every registered primitive's rules (or those of `prims`: primitives or their names) on
    examples drawn by hypothesis from its `rules["example"]` (see `Sampler`): each rule on its own
    (`check_equation`). Run it after adding a primitive. Returns the names checked; raises an
    AssertionError listing each primitive whose rules disagree (with the smallest example hypothesis
    found) and each one without an example."""
    from .primitives import all_primitives
    registry = all_primitives()
    chosen = list(registry.values()) if prims is None else [registry[p] if isinstance(p, str) else p for p in prims]
    failures, checked = [], []
    for prim in chosen:
        example = prim.rules.get("example")
        if example is None:
            failures.append(f"{prim.name}: no rules['example'] to draw operands from (add one beside its "
                            "definition: example(s: Sampler) -> (operands, params))")
            continue

        run = _rule_test(prim, example, rules, max_examples, seed)
        try:
            run()
            checked.append(prim.name)
        except AssertionError as e:
            failures.append(str(e).split("\nFalsifying example")[0])
    if failures:
        raise AssertionError(f"check_rules: {len(failures)} of {len(chosen)} primitives fail:\n  "
                             + "\n  ".join(failures))
    return checked
