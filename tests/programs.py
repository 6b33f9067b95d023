"""Random programs for property-based cross-checking: DAGs of numpy-style operations, as data.

`programs()` is a hypothesis strategy for `Program`s: 1-4 float inputs (float64, sometimes float32) of
random shapes drawn from a small pool of axis lengths (so broadcasting, contractions and concatenations
line up often), then 5-30 operations, each on earlier nodes (so values fan out and gradients add at
branches): elementwise unary (exp, log, sqrt, tanh, sin, cos, tan, sigmoid, expm1, abs, integer and
fractional powers, clip) and binary operations with numpy broadcasting (+ - * /, power, maximum, minimum,
where with a comparison), reductions with axis and keepdims (sum, mean, max, min, prod, var/std, cumsum),
reshapes, transposes, expand_dims/squeeze, concatenate/stack, flip, basic slicing (negative starts and
steps, None, ...), integer-array indexing (negative and repeated indices, several arrays, mixed with slices,
ints and None, take), products (`@`, matmul, dot, einsum of 2 operands, tensordot, outer, batched matmul),
and control flow (`lax.scan` over a node's leading axis, its carry or its stacked values; `lax.cond` on the
sign of a node's sum, never near 0; `lax.fori_loop` of 0-3 steps).
The program ends in a float scalar (a weighted sum of sums and means of some nodes), so `grad` applies,
and can also return several of its nodes (`run_all`) for jit checks.

The structure is drawn by hypothesis (so it shrinks); the input values come from a numpy generator seeded
by a drawn integer (continuous, generic values: no accidental ties). Every node is evaluated with numpy
while the program is built, so each operation is only emitted where it is tame on the actual values:
no overflow (|values| <= 100), no kink within `MARGIN` (abs near 0, maximum/minimum/where comparisons of
near-equal values, max/min reductions with a near-tie for the extremum), no log/sqrt of values near 0, no
division by values near 0. Where a drawn operation would not be tame, a safe spelling is emitted instead
(log(1 + x * x), x / (1 + y * y), or tanh(x)).

A program is its source code: `repr(program)` prints a self-contained Python snippet (the function, written
once against an array module `xp`, and the code that makes its inputs), which is exactly what `run`
executes, so a failing example pastes straight into a named regression test:

    def f(xp, nn, lax, x0, x1):
        v2 = xp.tanh(x0)
        v3 = v2 @ x1
        ...
        return loss, (v3, v5)

A hand-written (or pasted) program is `FunctionProgram(f, inputs)`, with the same interface.

`program.run(xp, *inputs)` returns the scalar loss, `program.run_all(xp, *inputs)` returns
`(loss, (node, ...))`; `xp` is `numpy`, `minigrad_fn.numpy` or `jax.numpy` (`nn` is bound to
`minigrad_fn.nn` / `jax.nn` / a numpy sigmoid to match, `lax` to `minigrad_fn.lax` / `jax.lax` / plain
Python loops).

`batched_programs()` draws a `BatchedProgram` for vmap checks: a random program, a batch of 2-3 examples
(each input scaled entrywise by 1 + 0.1 u, u uniform in [-1, 1), so signs and domains hold), an in_axis per
input (None, 0, -1 or a middle axis, at least one mapped) and out_axes; `make_inputs()` gives the batched
inputs, `examples()` the unbatched inputs of each example, and `repr` the code that makes them.
"""
from __future__ import annotations

import math
import re

import numpy as np
from hypothesis import strategies as st

MARGIN = 0.02          # distance kept from kinks and ties
MAX_ABS = 100.0        # largest |value| allowed in any node
MAX_SIZE = 64          # largest node
MAX_NDIM = 4


# ---------------------------------------------------------------------------------------------------------
# Programs
# ---------------------------------------------------------------------------------------------------------

class _NumpyNN:
    """numpy stand-in for jax.nn / minigrad_fn.nn (only what programs use)."""

    @staticmethod
    def sigmoid(x):
        return 1 / (1 + np.exp(-x))


class _NumpyLax:
    """numpy stand-in for jax.lax / minigrad_fn.lax (the control flow programs use), as plain Python."""

    @staticmethod
    def scan(f, init, xs):
        carry, ys = init, []
        for x in xs:
            carry, y = f(carry, x)
            ys.append(y)
        return carry, np.stack(ys)

    @staticmethod
    def cond(pred, true_fun, false_fun, *operands):
        return true_fun(*operands) if pred else false_fun(*operands)

    @staticmethod
    def fori_loop(lower, upper, body, init):
        for i in range(lower, upper):
            init = body(i, init)
        return init


def _module_for(xp, name: str, numpy_stand_in):
    """minigrad_fn.<name> or jax.<name>, matching the array module xp; the stand-in for numpy."""
    import importlib
    root = getattr(xp, "__name__", "").split(".")[0]
    return importlib.import_module(f"{root}.{name}") if root in ("minigrad_fn", "jax") else numpy_stand_in


def lax_for(xp):
    """The lax module matching the array module xp."""
    return _module_for(xp, "lax", _NumpyLax)


def nn_for(xp):
    """The nn module matching the array module xp."""
    return _module_for(xp, "nn", _NumpyNN)


class Program:
    """A random program as source code: `lines` of `name = expression` over inputs x0.. and nodes v.."""

    def __init__(self, seed, inputs, lines, loss, outputs, ops=()):
        self.seed = seed
        self.inputs = list(inputs)        # [(name, shape, dtype name, distribution)]
        self.lines = list(lines)          # [(name, expression)]
        self.loss = loss                  # expression of the scalar loss
        self.outputs = list(outputs)      # node names returned by run_all
        self.ops = tuple(ops)             # operation kinds used (for coverage statistics)
        self._fn = None

    # -- source ------------------------------------------------------------------------------------------
    @property
    def input_names(self):
        return [name for name, *_ in self.inputs]

    @property
    def argnums(self):
        return tuple(range(len(self.inputs)))

    def function_source(self, name="f") -> str:
        body = [f"    {n} = {e}" for n, e in self.lines]
        body.append(f"    loss = {self.loss}")
        body.append(f"    return loss, ({''.join(o + ', ' for o in self.outputs)})")
        return f"def {name}(xp, nn, lax, {', '.join(self.input_names)}):\n" + "\n".join(body)

    def inputs_source(self) -> str:
        out = [f"rng = np.random.default_rng({self.seed})"]
        for name, shape, dtype, dist in self.inputs:
            out.append(f"{name} = {_input_expr(shape, dtype, dist)}")
        return "\n".join(out)

    def __repr__(self):
        return (f"# Program: {len(self.lines)} nodes, inputs "
                + ", ".join(f"{n}: {dt}{list(s)}" for n, s, dt, _ in self.inputs) + "\n"
                + "import numpy as np\n\n" + self.function_source() + "\n\n" + self.inputs_source() + "\n")

    # -- running -----------------------------------------------------------------------------------------
    def _function(self):
        if self._fn is None:
            ns = {"np": np}
            exec(compile(self.function_source(), "<random program>", "exec"), ns)
            self._fn = ns["f"]
        return self._fn

    def make_inputs(self) -> tuple:
        """The program's inputs: numpy arrays (the same every call)."""
        ns = {"np": np}
        exec(self.inputs_source(), ns)
        return tuple(ns[n] for n in self.input_names)

    def run_all(self, xp, *inputs):
        """(scalar loss, tuple of output nodes), computed with the array module xp."""
        return self._function()(xp, nn_for(xp), lax_for(xp), *inputs)

    def run(self, xp, *inputs):
        """The scalar loss, computed with the array module xp."""
        return self.run_all(xp, *inputs)[0]


class FunctionProgram:
    """A program written out by hand (a regression test): `f(xp, nn, *inputs) -> (loss, outputs)` and its
    inputs, with `Program`'s interface (run, run_all, make_inputs, argnums)."""

    def __init__(self, f, inputs):
        self.f, self.inputs = f, tuple(np.asarray(x) for x in inputs)

    @property
    def argnums(self):
        return tuple(range(len(self.inputs)))

    def make_inputs(self) -> tuple:
        return tuple(np.array(x, copy=True) for x in self.inputs)

    def run_all(self, xp, *inputs):
        return self.f(xp, nn_for(xp), *inputs)

    def run(self, xp, *inputs):
        return self.run_all(xp, *inputs)[0]

    def __repr__(self):
        return f"FunctionProgram({self.f.__name__}, inputs {[f'{x.dtype}{list(x.shape)}' for x in self.inputs]})"


def _input_expr(shape, dtype, dist) -> str:
    shape = tuple(shape)
    if dist == "uniform":
        e = f"rng.uniform(-2.0, 2.0, {shape})"
    elif dist == "positive":
        e = f"rng.uniform(0.2, 2.0, {shape})"
    elif dist == "nonzero":
        e = f"rng.choice([-1.0, 1.0], {shape}) * rng.uniform(0.3, 2.0, {shape})"
    else:
        raise ValueError(dist)
    return e if dtype == "float64" else f"({e}).astype(np.{dtype})"


# ---------------------------------------------------------------------------------------------------------
# Building programs
# ---------------------------------------------------------------------------------------------------------

UNARY = ["tanh", "exp", "sin", "cos", "sigmoid", "log", "sqrt", "abs", "neg", "square", "ipow", "fpow",
         "expm1", "tan", "clip"]
BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "where", "pow"]
REDUCE = ["sum", "mean", "max", "min", "prod", "var", "cumsum"]
SHAPE = ["reshape", "transpose", "expand_dims", "squeeze", "slice", "index", "concatenate", "stack", "flip",
         "mixed_index"]
PRODUCT = ["matmul", "dot", "einsum", "tensordot", "outer"]
CONTROL = ["scan", "scan_carry", "cond", "fori"]
KINDS = BINARY + UNARY + REDUCE + SHAPE + PRODUCT + CONTROL


class _Fallback(Exception):
    """The drawn operation does not apply (shapes) or is not tame (values): emit tanh instead."""


def _broadcast(*shapes):
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        return None


def _fmt_axis(axis):
    return repr(tuple(axis)) if isinstance(axis, (tuple, list)) else repr(axis)


def _pyfloat(x) -> str:
    return repr(float(x))


class _Builder:
    """Draws operations one at a time, evaluating each node with numpy to keep the program tame."""

    def __init__(self, draw, seed, inputs):
        self.draw = draw
        self.names, self.values, self.exprs = [], [], []   # node names, numpy values, (name, expression)
        self.ops = []
        prog = Program(seed, inputs, [], "0.0", [])
        for name, value in zip(prog.input_names, prog.make_inputs()):
            self.names.append(name)
            self.values.append(value)

    # -- helpers ---------------------------------------------------------------------------------------
    def pick(self, candidates=None):
        """An earlier node (index), from `candidates` when given."""
        if candidates is None:
            return self.draw(st.integers(0, len(self.names) - 1))
        if not candidates:
            raise _Fallback("no candidate")
        return candidates[self.draw(st.integers(0, len(candidates) - 1))]

    def shape(self, i):
        return self.values[i].shape

    def compatible(self, *shapes):
        """Nodes whose shapes broadcast with all of `shapes` to something not too big."""
        out = []
        for j, v in enumerate(self.values):
            s = _broadcast(v.shape, *shapes)
            if s is not None and len(s) <= MAX_NDIM and math.prod(s) <= MAX_SIZE:
                out.append(j)
        return out

    def evaluate(self, expr):
        env = {"xp": np, "np": np, "nn": _NumpyNN, "lax": _NumpyLax}
        env.update(zip(self.names, self.values))
        with np.errstate(all="ignore"):
            v = eval(expr, env)
        return np.asarray(v)

    def tame(self, v):
        return (v.dtype.kind == "f" and v.size >= 1 and v.size <= MAX_SIZE and v.ndim <= MAX_NDIM
                and bool(np.all(np.isfinite(v))) and float(np.max(np.abs(v))) <= MAX_ABS)

    def add(self, expr, kind):
        try:
            v = self.evaluate(expr)
        except (IndexError, ValueError) as e:  # a drawn operation that does not apply to these shapes
            raise _Fallback(f"{expr}: {e}") from None
        if not self.tame(v):
            raise _Fallback(f"not tame: {expr}")
        name = f"v{len(self.names)}"
        self.names.append(name)
        self.values.append(v)
        self.exprs.append((name, expr))
        self.ops.append(kind)

    def suitable(self, kind):
        """The nodes an operation of this kind can apply to (by shape), or all nodes."""
        need = {
            "transpose": lambda v: v.ndim >= 2,
            "squeeze": lambda v: 1 in v.shape,
            "expand_dims": lambda v: v.ndim < MAX_NDIM,
            "fpow": lambda v: np.min(v) > 0.1,
            "abs": lambda v: np.min(np.abs(v)) >= MARGIN,
        }.get(kind)
        if need is None and kind in ("slice", "index", "mixed_index", "concatenate", "matmul", "dot", "flip",
                                     "cumsum", "tensordot", "scan", "scan_carry"):
            need = lambda v: v.ndim >= 1  # noqa: E731
        ok = [j for j, v in enumerate(self.values) if need is None or need(v)]
        return ok or None

    def step(self):
        kind = self.draw(st.sampled_from(KINDS))
        a = self.pick(self.suitable(kind))
        try:
            expr = getattr(self, "op_" + kind)(a)
            self.add(expr, kind)
        except _Fallback:
            # tanh of a tame node is tame
            self.add(f"xp.tanh({self.names[a]})", "fallback:" + kind)

    # -- unary -----------------------------------------------------------------------------------------
    def op_exp(self, a):
        return f"xp.exp({self.names[a]})"

    def op_tanh(self, a):
        return f"xp.tanh({self.names[a]})"

    def op_sin(self, a):
        return f"xp.sin({self.names[a]})"

    def op_cos(self, a):
        return f"xp.cos({self.names[a]})"

    def op_sigmoid(self, a):
        return f"nn.sigmoid({self.names[a]})"

    def op_log(self, a):
        x, n = self.values[a], self.names[a]
        if np.min(x) > 0.05 and self.draw(st.booleans()):
            return f"xp.log({n})"
        return self.draw(st.sampled_from([f"xp.log(1 + {n} * {n})", f"xp.log(xp.exp({n}))",
                                          f"xp.log1p({n} * {n})", f"xp.log(xp.square({n}) + 0.5)"]))

    def op_sqrt(self, a):
        x, n = self.values[a], self.names[a]
        if np.min(x) > 0.05 and self.draw(st.booleans()):
            return f"xp.sqrt({n})"
        return self.draw(st.sampled_from([f"xp.sqrt({n} * {n} + 0.5)", f"xp.sqrt(1 + xp.exp({n}))"]))

    def op_abs(self, a):
        x, n = self.values[a], self.names[a]
        if np.min(np.abs(x)) < MARGIN:
            raise _Fallback("abs near 0")
        return self.draw(st.sampled_from([f"xp.abs({n})", f"abs({n})", f"xp.absolute({n})"]))

    def op_neg(self, a):
        n = self.names[a]
        return self.draw(st.sampled_from([f"-{n}", f"xp.negative({n})"]))

    def op_square(self, a):
        n = self.names[a]
        return self.draw(st.sampled_from([f"xp.square({n})", f"{n} ** 2", f"{n} * {n}"]))

    def op_ipow(self, a):
        x, n = self.values[a], self.names[a]
        k = self.draw(st.sampled_from([3, 4, -1, -2, 1, 0]))
        if k < 0 and np.min(np.abs(x)) < 0.2:
            raise _Fallback("negative power near 0")
        return self.draw(st.sampled_from([f"{n} ** {k}", f"xp.power({n}, {k})"])) if k >= 0 else f"{n} ** {k}"

    def op_fpow(self, a):
        x, n = self.values[a], self.names[a]
        p = self.draw(st.sampled_from([0.5, 1.5, -0.5, 2.5]))
        if np.min(x) < 0.1:
            raise _Fallback("fractional power of small or negative values")
        return self.draw(st.sampled_from([f"{n} ** {p}", f"xp.power({n}, {p})"]))

    def op_expm1(self, a):
        return f"xp.expm1({self.names[a]})"

    def op_tan(self, a):
        x, n = self.values[a], self.names[a]
        if np.max(np.abs(x)) < 1.2:
            return f"xp.tan({n})"
        return f"xp.tan(xp.tanh({n}))"

    def op_clip(self, a):
        x, n = self.values[a], self.names[a]
        lo, hi = sorted(self.draw(st.lists(st.sampled_from([-1.0, -0.5, 0.0, 0.5, 1.0]), min_size=2, max_size=2,
                                           unique=True)))
        if np.min(np.abs(x - lo)) < MARGIN or np.min(np.abs(x - hi)) < MARGIN:
            raise _Fallback("clip bound ties")
        return f"xp.clip({n}, {lo}, {hi})"

    # -- control flow (lax.scan / cond / fori_loop: one primitive each in minigrad_fn) -------------------
    def _scan(self, a, part):
        n = self.names[a]
        return (f"lax.scan(lambda c, x: (xp.tanh(c * 0.5 + x), c * x), xp.zeros_like({n}[0]), {n})[{part}]")

    def op_scan(self, a):  # the stacked ys of a recurrence over the leading axis
        return self._scan(a, 1)

    def op_scan_carry(self, a):  # its final carry
        return self._scan(a, 0)

    def op_cond(self, a):
        total = float(np.sum(self.values[a]))
        if abs(total) < MARGIN:
            raise _Fallback("cond predicate near its threshold")
        n = self.names[a]
        return f"lax.cond(xp.sum({n}) > 0, lambda u: xp.sin(u) * 2.0, lambda u: u * u - 1.0, {n})"

    def op_fori(self, a):
        steps = self.draw(st.integers(0, 3))
        return f"lax.fori_loop(0, {steps}, lambda i, u: xp.tanh(u) + u * 0.5, {self.names[a]})"

    # -- binary ----------------------------------------------------------------------------------------
    def partner(self, a, *more):
        """A node broadcast-compatible with a (and `more`), or a same-sized node reshaped to a's shape."""
        sa = self.shape(a)
        comp = self.compatible(sa, *[self.shape(m) for m in more])
        same_size = [j for j in range(len(self.values)) if j not in comp and self.values[j].size == math.prod(sa)
                     and not more]
        if same_size and self.draw(st.integers(0, 4)) == 0:
            j = self.pick(same_size)
            return j, f"xp.reshape({self.names[j]}, {tuple(sa)})"
        j = self.pick(comp)
        return j, self.names[j]

    def _binop(self, a, symbol, fn):
        j, b = self.partner(a)
        n = self.names[a]
        if self.draw(st.booleans()):
            return f"{n} {symbol} {b}" if self.draw(st.booleans()) else f"{b} {symbol} {n}"
        return f"xp.{fn}({n}, {b})"

    def op_add(self, a):
        if self.draw(st.integers(0, 5)) == 0:
            return f"{self.names[a]} + {_pyfloat(self.draw(st.sampled_from([0.5, -1.0, 2.0])))}"
        return self._binop(a, "+", "add")

    def op_sub(self, a):
        if self.draw(st.integers(0, 5)) == 0:
            return f"1.5 - {self.names[a]}"
        return self._binop(a, "-", "subtract")

    def op_mul(self, a):
        if self.draw(st.integers(0, 5)) == 0:
            return f"{self.names[a]} * {_pyfloat(self.draw(st.sampled_from([0.5, -3.0, 2.0])))}"
        return self._binop(a, "*", "multiply")

    def op_div(self, a):
        j, b = self.partner(a)
        n = self.names[a]
        if np.min(np.abs(self.values[j])) > 0.2 and self.draw(st.integers(0, 3)) > 0:
            return self.draw(st.sampled_from([f"{n} / {b}", f"xp.divide({n}, {b})", f"{b} / {n}"])) \
                if np.min(np.abs(self.values[a])) > 0.2 else f"{n} / {b}"
        return self.draw(st.sampled_from([f"{n} / (1 + {b} * {b})", f"{n} / (1.5 + xp.tanh({b}))",
                                          f"{n} / (xp.exp({b}) + 0.5)"]))

    def op_pow(self, a):
        # positive base, bounded exponent: both operands get gradients
        j, b = self.partner(a)
        n = self.names[a]
        if np.min(self.values[a]) > 0.1:
            return f"xp.power({n}, xp.tanh({b}))"
        return f"xp.power(1 + {n} * {n}, xp.sin({b}))"

    def _untied(self, x, y):
        return bool(np.min(np.abs(np.broadcast_to(x, _broadcast(x.shape, y.shape)) - y)) > MARGIN)

    def op_maximum(self, a, fn="maximum"):
        n = self.names[a]
        if self.draw(st.integers(0, 3)) == 0:
            c = self.draw(st.sampled_from([0.0, 0.5, -0.5]))
            if not self._untied(self.values[a], np.asarray(c)):
                raise _Fallback("tie with a constant")
            return f"xp.{fn}({n}, {_pyfloat(c)})"
        j, b = self.partner(a)
        y = self.evaluate(b)
        if not self._untied(self.values[a], y):
            raise _Fallback("ties")
        return f"xp.{fn}({n}, {b})" if self.draw(st.booleans()) else f"xp.{fn}({b}, {n})"

    def op_minimum(self, a):
        return self.op_maximum(a, "minimum")

    def op_where(self, a):
        # where(p > q, r, s): p and q never near-equal, r and s any compatible nodes
        sa = self.shape(a)
        if self.draw(st.integers(0, 2)) == 0:
            q, qv = _pyfloat(self.draw(st.sampled_from([0.0, 0.3, -0.7]))), None
        else:
            j = self.pick(self.compatible(sa))
            q, qv = self.names[j], self.values[j]
        qv = np.asarray(float(q)) if qv is None else qv
        if not self._untied(self.values[a], qv):
            raise _Fallback("comparison ties")
        s1 = _broadcast(sa, qv.shape)
        r = self.pick(self.compatible(s1))
        s = self.pick(self.compatible(s1, self.shape(r)))
        cmp = self.draw(st.sampled_from([">", "<", ">=", "<="]))
        return f"xp.where({self.names[a]} {cmp} {q}, {self.names[r]}, {self.names[s]})"

    # -- reductions ------------------------------------------------------------------------------------
    def _axis(self, ndim, allow_none=True):
        """A drawn axis argument: None, an int (maybe negative), or a tuple; and the normalized axes."""
        if ndim == 0:
            return None, ()
        choice = self.draw(st.integers(0, 2 if allow_none else 1))
        if choice == 0:
            ax = self.draw(st.integers(-ndim, ndim - 1))
            return ax, (ax % ndim,)
        if choice == 1:
            axes = self.draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
            spelled = tuple(x - ndim if self.draw(st.booleans()) else x for x in axes)
            return spelled, tuple(sorted(axes))
        return None, tuple(range(ndim))

    def _reduce(self, a, fn):
        x, n = self.values[a], self.names[a]
        axis, axes = self._axis(x.ndim)
        keep = self.draw(st.booleans())
        if fn in ("max", "min", "prod") and axes:
            moved = np.moveaxis(x, axes, range(-len(axes), 0)).reshape(
                [x.shape[d] for d in range(x.ndim) if d not in axes] + [-1])
            if fn == "prod":
                if moved.shape[-1] > 4 or np.min(np.abs(x)) < 0.05:
                    raise _Fallback("prod of many or small values")
            elif moved.shape[-1] > 1:
                srt = np.sort(moved if fn == "min" else -moved, axis=-1)
                if np.min(srt[..., 1] - srt[..., 0]) < MARGIN:
                    raise _Fallback("near-tie for the extremum")
        args = "" if axis is None else f", axis={_fmt_axis(axis)}"
        if keep:
            args += ", keepdims=True"
        if self.draw(st.integers(0, 3)) == 0:
            return f"{n}.{fn}({args[2:]})"
        return f"xp.{fn}({n}{args})"

    def op_sum(self, a):
        return self._reduce(a, "sum")

    def op_mean(self, a):
        return self._reduce(a, "mean")

    def op_max(self, a):
        return self._reduce(a, "max")

    def op_min(self, a):
        return self._reduce(a, "min")

    def op_prod(self, a):
        return self._reduce(a, "prod")

    def op_var(self, a):
        x, n = self.values[a], self.names[a]
        axis, axes = self._axis(x.ndim)
        fn = self.draw(st.sampled_from(["var", "std"]))
        if fn == "std":
            v = np.var(x, axis=axes) if axes else np.zeros(x.shape)
            if np.min(v) < 0.01:
                raise _Fallback("std of near-constant values (sqrt at 0)")
        args = "" if axis is None else f", axis={_fmt_axis(axis)}"
        if self.draw(st.booleans()):
            args += ", keepdims=True"
        return f"xp.{fn}({n}{args})"

    def op_cumsum(self, a):
        x, n = self.values[a], self.names[a]
        if x.ndim == 0 or self.draw(st.integers(0, 3)) == 0:
            return f"xp.cumsum({n})"
        return f"xp.cumsum({n}, axis={self.draw(st.integers(-x.ndim, x.ndim - 1))})"

    # -- shapes ----------------------------------------------------------------------------------------
    def op_reshape(self, a):
        x, n = self.values[a], self.names[a]
        size = x.size
        factors = []
        rest = size
        for _ in range(self.draw(st.integers(0, 3))):
            divisors = [d for d in range(1, rest + 1) if rest % d == 0]
            d = self.draw(st.sampled_from(divisors))
            factors.append(d)
            rest //= d
        if rest > 1 or self.draw(st.booleans()):
            factors.append(rest)
        factors = factors[:MAX_NDIM]
        if math.prod(factors) != size:
            raise _Fallback("reshape")
        shape = list(factors)
        if shape and self.draw(st.booleans()):
            shape[self.draw(st.integers(0, len(shape) - 1))] = -1
        shape = tuple(shape)
        if self.draw(st.integers(0, 2)) == 0 and shape:
            return f"{n}.reshape{shape}" if len(shape) > 1 else f"{n}.reshape({shape[0]})"
        return f"xp.reshape({n}, {shape})"

    def op_transpose(self, a):
        x, n = self.values[a], self.names[a]
        if x.ndim < 2:
            raise _Fallback("transpose of < 2 axes")
        form = self.draw(st.integers(0, 3))
        if form == 0:
            return f"{n}.T"
        if form == 1:
            i, j = self.draw(st.integers(-x.ndim, x.ndim - 1)), self.draw(st.integers(-x.ndim, x.ndim - 1))
            return f"xp.swapaxes({n}, {i}, {j})"
        if form == 2:
            i, j = self.draw(st.integers(-x.ndim, x.ndim - 1)), self.draw(st.integers(-x.ndim, x.ndim - 1))
            return f"xp.moveaxis({n}, {i}, {j})"
        perm = self.draw(st.permutations(range(x.ndim)))
        return f"xp.transpose({n}, {tuple(perm)})"

    def op_expand_dims(self, a):
        x, n = self.values[a], self.names[a]
        if x.ndim >= MAX_NDIM:
            raise _Fallback("too many axes")
        ax = self.draw(st.integers(-x.ndim - 1, x.ndim))
        if self.draw(st.booleans()):
            return f"xp.expand_dims({n}, {ax})"
        k = ax % (x.ndim + 1)
        return f"{n}[{', '.join([':'] * k + ['None'])}]"

    def op_squeeze(self, a):
        x, n = self.values[a], self.names[a]
        ones = [d for d in range(x.ndim) if x.shape[d] == 1]
        if not ones:
            raise _Fallback("no length-1 axis")
        if self.draw(st.booleans()):
            return f"xp.squeeze({n})"
        d = self.draw(st.sampled_from(ones))
        if self.draw(st.booleans()):
            d -= x.ndim
        return f"xp.squeeze({n}, axis={d})"

    def op_slice(self, a):
        x, n = self.values[a], self.names[a]
        if x.ndim == 0:
            raise _Fallback("slicing a scalar")
        parts = []
        for length in x.shape:
            kind = self.draw(st.sampled_from(["full", "range", "rev", "step", "int", "none"]))
            if kind == "full":
                parts.append(":")
            elif kind == "none":
                parts.append("None")
                parts.append(":")
            elif kind == "int":
                i = self.draw(st.integers(-length, length - 1))
                parts.append(str(i))
            elif kind == "range":
                s = self.draw(st.integers(0, length - 1))
                e = self.draw(st.integers(s + 1, length))
                s_txt = "" if s == 0 else str(s - length if self.draw(st.booleans()) else s)
                e_txt = "" if e == length else str(e - length if self.draw(st.booleans()) else e)
                parts.append(f"{s_txt}:{e_txt}")
            elif kind == "rev":
                parts.append(self.draw(st.sampled_from(["::-1", "-1::-1", "::-2", f"{length - 1}:0:-1"])))
            else:
                step = self.draw(st.integers(2, 3))
                s = self.draw(st.integers(0, length - 1))
                parts.append(f"{s if s else ''}::{step}")
        while parts and parts[-1] == ":" and len(parts) > 1:
            parts.pop()
        lead = 0
        while lead < len(parts) and parts[lead] == ":":
            lead += 1
        if 0 < lead < len(parts) and self.draw(st.booleans()):
            parts = ["..."] + parts[lead:]
        return f"{n}[{', '.join(parts)}]"

    def _index_array(self, length, shape):
        vals = [self.draw(st.integers(-length, length - 1)) for _ in range(math.prod(shape))]
        return f"np.array({np.array(vals, dtype=np.int64).reshape(shape).tolist()})"

    def op_index(self, a):
        x, n = self.values[a], self.names[a]
        if x.ndim == 0:
            raise _Fallback("indexing a scalar")
        form = self.draw(st.integers(0, 2))
        if form == 2 and x.ndim >= 2:
            # two index arrays, broadcasting against each other, on two (maybe non-adjacent) axes
            d1, d2 = sorted(self.draw(st.lists(st.integers(0, x.ndim - 1), min_size=2, max_size=2, unique=True)))
            m = self.draw(st.integers(1, 3))
            if self.draw(st.booleans()):
                s1, s2 = (m,), (m,)
            else:
                s1, s2 = (m, 1), (self.draw(st.integers(1, 3)),)
            key = [":"] * x.ndim
            key[d1] = self._index_array(x.shape[d1], s1)
            key[d2] = self._index_array(x.shape[d2], s2)
            while key[-1] == ":":
                key.pop()
            return f"{n}[{', '.join(key)}]"
        d = self.draw(st.integers(0, x.ndim - 1))
        shape = self.draw(st.sampled_from([(1,), (2,), (3,), (4,), (2, 2), (3, 1)]))
        idx = self._index_array(x.shape[d], shape)
        if form == 1:
            return f"xp.take({n}, {idx}, axis={d - x.ndim if self.draw(st.booleans()) else d})"
        key = [":"] * d + [idx]
        return f"{n}[{', '.join(key)}]"

    def op_mixed_index(self, a):
        """Integer arrays mixed with slices, ints and None in one key (numpy's advanced-index placement)."""
        x, n = self.values[a], self.names[a]
        if x.ndim == 0:
            raise _Fallback("indexing a scalar")
        kinds = [self.draw(st.sampled_from(["array", ":", "slice", "int"])) for _ in range(x.ndim)]
        if "array" not in kinds:
            kinds[self.draw(st.integers(0, x.ndim - 1))] = "array"
        m = self.draw(st.integers(1, 3))
        key = []
        for length, kind in zip(x.shape, kinds):
            if kind == "array":
                key.append(self._index_array(length, (m,) if self.draw(st.integers(0, 3)) else (1,)))
            elif kind == "slice":
                key.append(self.draw(st.sampled_from(["1:", "::-1", ":-1", "::2"])) if length > 1 else "::-1")
            elif kind == "int":
                key.append(str(self.draw(st.integers(-length, length - 1))))
            else:
                key.append(":")
        if self.draw(st.integers(0, 3)) == 0:
            key.insert(self.draw(st.integers(0, len(key))), "None")
        return f"{n}[{', '.join(key)}]"

    def op_flip(self, a):
        x, n = self.values[a], self.names[a]
        if x.ndim == 0 or self.draw(st.booleans()):
            return f"xp.flip({n})"
        return f"xp.flip({n}, axis={self.draw(st.integers(-x.ndim, x.ndim - 1))})"

    def op_stack(self, a):
        x, n = self.values[a], self.names[a]
        if x.ndim >= MAX_NDIM:
            raise _Fallback("too many axes")
        same = [j for j, v in enumerate(self.values) if v.shape == x.shape]
        parts = [n] + [self.names[self.pick(same)] for _ in range(self.draw(st.integers(1, 2)))]
        return f"xp.stack([{', '.join(parts)}], axis={self.draw(st.integers(-x.ndim - 1, x.ndim))})"

    def op_concatenate(self, a):
        x, n = self.values[a], self.names[a]
        if x.ndim == 0:
            raise _Fallback("concatenating scalars")
        d = self.draw(st.integers(0, x.ndim - 1))
        fits = [j for j, v in enumerate(self.values)
                if v.ndim == x.ndim and all(v.shape[k] == x.shape[k] for k in range(x.ndim) if k != d)]
        parts = [n]
        for _ in range(self.draw(st.integers(1, 2))):
            parts.append(self.names[self.pick(fits)])
        if self.draw(st.booleans()):
            parts = parts[::-1]
        ax = d - x.ndim if self.draw(st.booleans()) else d
        return f"xp.concatenate([{', '.join(parts)}], axis={ax})"

    # -- products --------------------------------------------------------------------------------------
    def op_matmul(self, a, spelling=None):
        sa = self.shape(a)
        if len(sa) == 0:
            raise _Fallback("matmul of a scalar")
        cands = []
        for j, v in enumerate(self.values):
            sb = v.shape
            if len(sb) == 0:
                continue
            for tr in (False, True):
                if tr and len(sb) < 2:
                    continue
                tb = sb[:-2] + sb[-1:] + sb[-2:-1] if tr else sb
                k = tb[-2] if len(tb) >= 2 else tb[0]
                if sa[-1] != k:
                    continue
                batch = _broadcast(sa[:-2], tb[:-2])
                if batch is None:
                    continue
                out = batch + sa[-2:-1] + tb[-1:] if len(tb) >= 2 else sa[:-1]
                if len(out) <= MAX_NDIM and math.prod(out) <= MAX_SIZE:
                    cands.append((j, tr))
        if not cands:
            if len(sa) == 1:
                return f"{self.names[a]} @ {self.names[a]}"
            raise _Fallback("no matmul partner")
        j, tr = cands[self.draw(st.integers(0, len(cands) - 1))]
        b = f"xp.swapaxes({self.names[j]}, -1, -2)" if tr else self.names[j]
        n = self.names[a]
        if self.draw(st.booleans()):
            return f"{n} @ {b}"
        return f"xp.matmul({n}, {b})"

    def op_dot(self, a):
        sa = self.shape(a)
        if len(sa) == 0:
            raise _Fallback("dot of a scalar")
        cands = []
        for j, v in enumerate(self.values):
            sb = v.shape
            if len(sb) == 0 or sa[-1] != (sb[-2] if len(sb) >= 2 else sb[0]):
                continue
            out = sa[:-1] + sb[:-2] + sb[-1:] if len(sb) >= 2 else sa[:-1]
            if len(out) <= MAX_NDIM and math.prod(out) <= MAX_SIZE:
                cands.append(j)
        j = self.pick(cands)
        return f"xp.dot({self.names[a]}, {self.names[j]})"

    def op_tensordot(self, a):
        sa = self.shape(a)
        if not sa:
            raise _Fallback("tensordot of a scalar")
        k = self.draw(st.integers(1, min(2, len(sa))))
        tail = sa[len(sa) - k:]
        cands = [j for j, v in enumerate(self.values) if v.shape[:k] == tail and len(v.shape) >= k
                 and len(sa) + v.ndim - 2 * k <= MAX_NDIM
                 and math.prod(sa[:len(sa) - k]) * math.prod(v.shape[k:]) <= MAX_SIZE]
        j = self.pick(cands)
        axes = k if self.draw(st.booleans()) else f"({list(range(len(sa) - k, len(sa)))}, {list(range(k))})"
        return f"xp.tensordot({self.names[a]}, {self.names[j]}, axes={axes})"

    def op_outer(self, a):
        j = self.pick([j for j, v in enumerate(self.values) if v.size * self.values[a].size <= MAX_SIZE])
        return f"xp.outer({self.names[a]}, {self.names[j]})"

    def op_einsum(self, a):
        sa = self.shape(a)
        j = self.pick()
        sb = self.shape(j)
        letters = iter("ijklmnopqrstuvw")
        la = [next(letters) for _ in sa]
        lb, used = [], set()
        for d in sb:
            share = [k for k, e in enumerate(sa) if e == d and k not in used]
            if share and self.draw(st.integers(0, 3)) > 0:
                k = self.draw(st.sampled_from(share))
                used.add(k)
                lb.append(la[k])
            else:
                lb.append(next(letters))
        all_letters = list(dict.fromkeys(la + lb))
        sizes = dict(zip(la, sa)) | dict(zip(lb, sb))
        out = self.draw(st.lists(st.sampled_from(all_letters), unique=True, min_size=1,
                                 max_size=min(len(all_letters), MAX_NDIM))) if all_letters else []
        if self.draw(st.integers(0, 5)) == 0:
            out = []  # a full contraction
        if math.prod(sizes[c] for c in out) > MAX_SIZE:
            raise _Fallback("einsum result too big")
        spec = f"{''.join(la)},{''.join(lb)}->{''.join(out)}"
        return f"xp.einsum('{spec}', {self.names[a]}, {self.names[j]})"

    # -- the end -----------------------------------------------------------------------------------------
    def finish(self, n_inputs):
        nodes = list(range(n_inputs, len(self.names)))
        used = set()
        for _, e in self.exprs:
            for k, name in enumerate(self.names):
                if _mentions(e, name):
                    used.add(k)
        sinks = [k for k in nodes if k not in used] or nodes
        picks = [sinks[-1]]
        for _ in range(self.draw(st.integers(0, 2))):
            picks.append(self.pick(nodes))
        terms = []
        for k in dict.fromkeys(picks):
            w = self.draw(st.sampled_from(["", "0.5 * ", "-1.5 * ", "2.0 * "]))
            red = self.draw(st.sampled_from(["sum", "mean"]))
            terms.append(f"{w}xp.{red}({self.names[k]})")
        loss = " + ".join(terms)
        outs = [self.names[k] for k in dict.fromkeys([sinks[-1]] + [self.pick(nodes)
                                                                    for _ in range(self.draw(st.integers(0, 2)))])]
        return loss, outs


def _mentions(expr, name):
    return re.search(rf"\b{name}\b", expr) is not None


@st.composite
def programs(draw, min_nodes=5, max_nodes=30, float32=True):
    """A random `Program` (see the module docstring)."""
    seed = draw(st.integers(0, 2 ** 32 - 1))
    dims = draw(st.lists(st.integers(2, 4), min_size=2, max_size=3))
    n_in = draw(st.integers(1, 4))
    f32 = float32 and draw(st.integers(0, 3)) == 0
    inputs = []
    for i in range(n_in):
        ndim = draw(st.sampled_from([2, 1, 3, 0]))
        shape = tuple(1 if draw(st.integers(0, 7)) == 7 else draw(st.sampled_from(dims)) for _ in range(ndim))
        dist = draw(st.sampled_from(["uniform", "positive", "nonzero"]))
        dtype = "float32" if f32 and (i == 0 or draw(st.booleans())) else "float64"
        inputs.append((f"x{i}", shape, dtype, dist))
    b = _Builder(draw, seed, inputs)
    for _ in range(draw(st.integers(min_nodes, max_nodes))):
        b.step()
    loss, outs = b.finish(n_in)
    return Program(seed, inputs, b.exprs, loss, outs, b.ops)


# ---------------------------------------------------------------------------------------------------------
# Batches of examples (for vmap)
# ---------------------------------------------------------------------------------------------------------

class BatchedProgram:
    """A program mapped over a batch of `size` examples: `in_axes` (one entry per input: None, or the
    axis of the batched array that holds the examples, maybe negative) and `out_axes` (an int for every
    output, or a prefix `(loss_axis, nodes_axis)` of `(loss, (node, ...))`).

    Example b of a mapped input is the program's own input scaled entrywise by `1 + scale * u`, u uniform
    in [-1, 1) from a generator seeded by `seed` (example 0 too: the batch holds no copy of the unbatched
    input, so a batching rule that mixes examples up shows). The scaling keeps signs, so the program's
    domain guards (positive inputs, nonzero divisors) still hold; `batched_programs` shrinks `scale` where
    the examples would not be tame. Unmapped inputs are the program's own.

    `repr` prints the program and the code that batches its inputs, as `make_inputs` runs it.
    """

    def __init__(self, program, in_axes, size, out_axes=0, seed=0, scale=0.1):
        self.program = program
        self.in_axes = tuple(in_axes)
        self.size = size
        self.out_axes = out_axes
        self.seed = seed
        self.scale = scale

    @property
    def argnums(self):
        return self.program.argnums

    def _names(self):
        return [f"x{i}" for i in range(len(self.in_axes))]

    def batch_source(self) -> str:
        out = [f"brng = np.random.default_rng({self.seed})"]
        for name, ax in zip(self._names(), self.in_axes):
            if ax is None:
                continue
            out.append(f"{name} = np.stack([({name} * (1 + {self.scale!r} * brng.uniform(-1.0, 1.0, {name}.shape)))"
                       f".astype({name}.dtype) for _ in range({self.size})], axis={ax})")
        return "\n".join(out)

    def make_inputs(self) -> tuple:
        """The batched inputs (mapped ones with the batch along their in_axes)."""
        ns = {"np": np}
        ns.update(zip(self._names(), self.program.make_inputs()))
        exec(self.batch_source(), ns)
        return tuple(ns[n] for n in self._names())

    def examples(self, inputs=None) -> list:
        """The unbatched inputs of each example: [(x0, x1, ...) for b in range(size)]."""
        xs = self.make_inputs() if inputs is None else inputs
        return [tuple(x if ax is None else np.take(x, b, axis=ax) for x, ax in zip(xs, self.in_axes))
                for b in range(self.size)]

    def out_axis_per_leaf(self, n_nodes: int) -> list:
        """The output axis of each leaf of `(loss, (node, ...))`."""
        if isinstance(self.out_axes, tuple):
            return [self.out_axes[0]] + [self.out_axes[1]] * n_nodes
        return [self.out_axes] * (1 + n_nodes)

    def __repr__(self):
        return (f"# vmap over {self.size} examples: in_axes={self.in_axes!r}, out_axes={self.out_axes!r}\n"
                + repr(self.program) + self.batch_source() + "\n")


@st.composite
def batched_programs(draw, min_nodes=5, max_nodes=30, float32=True):
    """A random `BatchedProgram`: a random program, 2-3 examples, and for each input an in_axis drawn among
    None, 0, -1 and a middle axis (positive or negative), at least one input mapped."""
    program = draw(programs(min_nodes=min_nodes, max_nodes=max_nodes, float32=float32))
    size = draw(st.integers(2, 3))
    axes = []
    for _, shape, _, _ in program.inputs:
        nb = len(shape) + 1               # the batched array's rank
        kind = draw(st.sampled_from(["none", "first", "last", "middle"]))
        if kind == "none":
            axes.append(None)
        elif kind == "first" or (kind == "middle" and nb < 3):
            axes.append(0)
        elif kind == "last":
            axes.append(-1 if draw(st.booleans()) else nb - 1)
        else:
            k = draw(st.integers(1, nb - 2))
            axes.append(k - nb if draw(st.booleans()) else k)
    if all(a is None for a in axes):
        axes[draw(st.integers(0, len(axes) - 1))] = 0
    out_axes = draw(st.sampled_from([0, 0, -1, (0, -1), (-1, 0)]))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    for scale in (0.1, 0.01, 0.0):
        case = BatchedProgram(program, axes, size, out_axes, seed, scale)
        if scale == 0.0 or _tame_examples(case):
            return case


def _tame_examples(case: BatchedProgram) -> bool:
    """Every example's outputs (by numpy) finite and within bounds."""
    with np.errstate(all="ignore"):
        for ex in case.examples():
            loss, outs = case.program.run_all(np, *ex)
            for v in (loss,) + tuple(outs):
                v = np.asarray(v)
                if not np.all(np.isfinite(v)) or float(np.max(np.abs(v), initial=0.0)) > 10 * MAX_ABS:
                    return False
    return True
