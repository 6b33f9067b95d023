"""Shared cases for the primitive tests (`test_primitives*.py`): one hypothesis strategy per primitive, a numpy
interpreter for JAX's jaxprs, and the checks the per-family test files run on each primitive of their family.

One hypothesis strategy per primitive (`CASES`) draws a function that applies the primitive through its
`minigrad_fn.lax` wrapper, the same function written with `jax.lax` / `jax.numpy`, and arguments in the
primitive's safe domain (shapes, broadcasting, axes and parameters drawn by hypothesis, values filled by a
generator seeded from a drawn integer). For each case the first-order check (`check_vjp`) compares
`grad(sum(f(args) * c))` for a fixed random cotangent c with `jax.grad` of the JAX function and with finite
differences, in float64, and checks float32 in, float32 gradient out; the second-order check compares a
Hessian-vector product (grad of <grad f, v>) with JAX's. `test_primitives.py::test_every_primitive_is_covered`
fails when a primitive is added to the library without a case here.

JAX's gradients are traced with `jax.make_jaxpr` and the jaxpr is run by a small numpy interpreter
(`jax_ref`): compiling each drawn shape with XLA costs ~40 ms per operation, which would make the files take
minutes. The derivative rules are still JAX's own; the interpreter only evaluates its primitives, and
`test_primitives.py::test_reference_interpreter_matches_compiled_jax` checks it against compiled JAX.

`family(module)` names the primitives defined in `minigrad_fn/primitives/<module>.py`: each
`test_primitives_<module>.py` runs the shared checks on those.
"""
from __future__ import annotations

import importlib
import math
import string

import jax
import jax.extend.core as jcore
import jax.numpy as jnp
import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad_fn as mg
import minigrad_fn.lax as lax
from helpers import numerical_grad
from tracing import Primitive, ShapedArray, aval_of

jlax = jax.lax


def family(module: str) -> set:
    """The names of the primitives defined in `minigrad_fn.primitives.<module>` (as `lax.all_primitives` finds them)."""
    mod = importlib.import_module(f"minigrad_fn.primitives.{module}")
    return {v.name for v in vars(mod).values() if isinstance(v, Primitive)}


FAMILIES = ("elementwise", "reductions", "shape", "linalg", "indexing")


# =====================================================================================================
# JAX reference: jax.make_jaxpr, then a numpy interpreter for the jaxpr (no XLA compilation)
# =====================================================================================================


def _einsum_dot(x, y, *, dimension_numbers, **_):
    (xc, yc), (xb, yb) = dimension_numbers
    xc, yc, xb, yb = (tuple(int(i) for i in a) for a in (xc, yc, xb, yb))
    letters = iter(string.ascii_letters)
    xs, ys = [None] * x.ndim, [None] * y.ndim
    for i, j in list(zip(xb, yb)) + list(zip(xc, yc)):
        xs[i] = ys[j] = next(letters)
    xs = [s or next(letters) for s in xs]
    ys = [s or next(letters) for s in ys]
    out = [xs[i] for i in xb] + [xs[i] for i in range(x.ndim) if i not in xb + xc] \
        + [ys[j] for j in range(y.ndim) if j not in yb + yc]
    return np.einsum(f"{''.join(xs)},{''.join(ys)}->{''.join(out)}", x, y)


def _in_bounds(start, sizes, shape, mode):
    if all(0 <= s and s + z <= d for s, z, d in zip(start, sizes, shape)):
        return start
    if "FILL_OR_DROP" in str(mode):
        raise NotImplementedError("jax_ref: out-of-bounds gather/scatter with FILL_OR_DROP")
    return [min(max(s, 0), d - z) for s, z, d in zip(start, sizes, shape)]


def _gather(x, idx, *, dimension_numbers, slice_sizes, mode, **_):
    dn = dimension_numbers
    if dn.operand_batching_dims:
        raise NotImplementedError("jax_ref: gather with batching dims")
    batch = idx.shape[:-1]
    kept = [d for d in range(x.ndim) if d not in dn.collapsed_slice_dims]
    pieces = np.empty(batch + tuple(slice_sizes[d] for d in kept), x.dtype)
    for b in np.ndindex(*batch):
        start = [0] * x.ndim
        for k, d in enumerate(dn.start_index_map):
            start[d] = int(idx[b + (k,)])
        start = _in_bounds(start, slice_sizes, x.shape, mode)
        window = x[tuple(slice(s, s + z) for s, z in zip(start, slice_sizes))]
        pieces[b] = window.reshape([slice_sizes[d] for d in kept])
    return np.moveaxis(pieces, list(range(len(batch), pieces.ndim)), list(dn.offset_dims))


def _scatter_add(x, idx, upd, *, dimension_numbers, mode, **_):
    dn = dimension_numbers
    if dn.operand_batching_dims:
        raise NotImplementedError("jax_ref: scatter with batching dims")
    out = np.array(x, copy=True)
    scatter_dims = [d for d in range(upd.ndim) if d not in dn.update_window_dims]
    upd = np.moveaxis(upd, scatter_dims, list(range(len(scatter_dims))))
    window_dims = [d for d in range(x.ndim) if d not in dn.inserted_window_dims]
    for b in np.ndindex(*idx.shape[:-1]):
        start = [0] * x.ndim
        for k, d in enumerate(dn.scatter_dims_to_operand_dims):
            start[d] = int(idx[b + (k,)])
        w = upd[b]
        full = [1] * x.ndim
        for j, d in enumerate(window_dims):
            full[d] = w.shape[j]
        start = _in_bounds(start, full, x.shape, mode)
        out[tuple(slice(s, s + f) for s, f in zip(start, full))] += w.reshape(full)
    return out


def _pad(x, value, *, padding_config):
    cfg = [tuple(int(v) for v in c) for c in padding_config]
    shape = [max(lo, 0) + max(hi, 0) + d + max(0, d - 1) * it for (lo, hi, it), d in zip(cfg, x.shape)]
    out = np.full(shape, value, dtype=x.dtype)
    out[tuple(slice(max(lo, 0), max(lo, 0) + (d - 1) * (it + 1) + 1, it + 1)
              for (lo, _, it), d in zip(cfg, x.shape))] = x
    return out[tuple(slice(max(-lo, 0), n - max(-hi, 0)) for (lo, hi, _), n in zip(cfg, shape))]


def _broadcast_in_dim(x, *, shape, broadcast_dimensions, **_):
    expanded = [1] * len(shape)
    for i, d in enumerate(broadcast_dimensions):
        expanded[d] = x.shape[i]
    return np.broadcast_to(np.reshape(x, expanded), shape)


def _reshape(x, *, new_sizes, dimensions=None, **_):
    return np.reshape(x if dimensions is None else np.transpose(x, dimensions), new_sizes)


def _iota(*, dtype, shape, dimension, **_):
    r = np.arange(shape[dimension]).reshape([-1 if i == dimension else 1 for i in range(len(shape))])
    return np.broadcast_to(r, shape).astype(dtype)


def _cumsum(x, *, axis, reverse):
    return np.flip(np.cumsum(np.flip(x, axis), axis), axis) if reverse else np.cumsum(x, axis)


def _int_div(x, y):
    if x.dtype.kind in "iu":
        return np.sign(x) * np.sign(y) * (np.abs(x) // np.abs(y))
    return x / y


def _round(x, *, rounding_method):
    if int(rounding_method) == 1:  # TO_NEAREST_EVEN
        return np.round(x)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _select_n(pred, *cases):
    if len(cases) == 1:
        return cases[0]
    if pred.dtype == bool:
        return np.where(pred, cases[1], cases[0])
    return np.choose(pred, cases)


def _ignore_params(f):
    return lambda *args, **params: f(*args)


_JAX_NUMPY = {
    **{name: _ignore_params(f) for name, f in {
        "neg": np.negative, "sin": np.sin, "cos": np.cos, "tan": np.tan, "tanh": np.tanh, "exp": np.exp,
        "log": np.log, "log1p": np.log1p, "expm1": np.expm1, "sqrt": np.sqrt, "abs": np.abs, "sign": np.sign,
        "floor": np.floor, "ceil": np.ceil, "rsqrt": lambda x: 1 / np.sqrt(x), "square": np.square,
        "logistic": lambda x: 1 / (1 + np.exp(-x)), "pow": np.power, "add": np.add, "add_any": np.add,
        "sub": np.subtract, "mul": np.multiply, "div": _int_div, "max": np.maximum, "min": np.minimum,
        "eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
        "ge": np.greater_equal, "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor,
        "not": np.invert, "select_n": _select_n, "copy": lambda x: x, "copy_p": lambda x: x,
        "concatenate": lambda *xs: xs}.items() if name != "concatenate"},
    "round": _round,
    "integer_pow": lambda x, *, y: np.power(x, y) if y >= 0 else 1 / np.power(x, -y),
    "convert_element_type": lambda x, *, new_dtype, **_: np.asarray(x).astype(new_dtype),
    "broadcast_in_dim": _broadcast_in_dim, "reshape": _reshape,
    "transpose": lambda x, *, permutation: np.transpose(x, permutation),
    "squeeze": lambda x, *, dimensions: np.squeeze(x, tuple(dimensions)),
    "concatenate": lambda *xs, dimension: np.concatenate(xs, dimension),
    "slice": lambda x, *, start_indices, limit_indices, strides: x[tuple(
        slice(s, l, st) for s, l, st in zip(start_indices, limit_indices, strides or (1,) * x.ndim))],
    "pad": _pad, "rev": lambda x, *, dimensions: np.flip(x, tuple(dimensions)), "iota": _iota,
    "reduce_sum": lambda x, *, axes, **_: np.sum(x, axis=tuple(axes)),
    "reduce_max": lambda x, *, axes, **_: np.max(x, axis=tuple(axes)),
    "reduce_min": lambda x, *, axes, **_: np.min(x, axis=tuple(axes)),
    "reduce_prod": lambda x, *, axes, **_: np.prod(x, axis=tuple(axes)),
    "argmax": lambda x, *, axes, index_dtype: np.argmax(x, axis=axes[0]),
    "argmin": lambda x, *, axes, index_dtype: np.argmin(x, axis=axes[0]),
    "cumsum": _cumsum, "dot_general": _einsum_dot, "gather": _gather, "scatter-add": _scatter_add,
    "stack": lambda *xs, axis: np.stack(xs, axis),
    # multiple results: a list
    "split": lambda x, *, sizes, axis: np.split(x, np.cumsum(sizes)[:-1], axis),
    "unstack": lambda x, *, axis: [np.take(x, i, axis) for i in range(x.shape[axis])],
}
JAX_FALLBACK: set = set()  # JAX primitives the interpreter handed to JAX itself (correct, but compiled: slow)


def _eval_jaxpr(jaxpr, consts, args, seen):
    env = {}

    def read(v):
        if isinstance(v, jcore.Literal):
            return np.asarray(v.val, dtype=v.aval.dtype)
        return env[v]

    for v, x in zip(jaxpr.constvars, consts):
        env[v] = np.asarray(x)
    for v, x in zip(jaxpr.invars, args):
        env[v] = np.asarray(x)
    for eqn in jaxpr.eqns:
        ins = [read(v) for v in eqn.invars]
        name = eqn.primitive.name
        if name in ("pjit", "jit"):
            sub = eqn.params["jaxpr"]
            outs = _eval_jaxpr(sub.jaxpr, sub.consts, ins, seen)
        elif name in _JAX_NUMPY:
            seen.add(name)
            outs = _JAX_NUMPY[name](*ins, **eqn.params)
            outs = outs if eqn.primitive.multiple_results else [outs]
        else:
            JAX_FALLBACK.add(name)
            outs = eqn.primitive.bind(*ins, **eqn.params)
            outs = outs if eqn.primitive.multiple_results else [outs]
        for v, o in zip(eqn.outvars, outs):
            o = np.asarray(o)
            assert o.shape == tuple(v.aval.shape), f"jax_ref: {name} gave {o.shape}, JAX says {v.aval}"
            if not isinstance(v, jcore.DropVar):
                env[v] = o.astype(v.aval.dtype, copy=False)
    return [read(v) for v in jaxpr.outvars]


def jax_ref(fn, *args, seen=None):
    """fn(*args), a JAX function (jax.grad, jax.numpy...), traced by JAX and evaluated with numpy.

    The names of the JAX primitives run with numpy are added to `seen`."""
    closed, shapes = jax.make_jaxpr(fn, return_shape=True)(*args)
    seen = set() if seen is None else seen
    outs = _eval_jaxpr(closed.jaxpr, closed.consts, jax.tree_util.tree_leaves(args), seen)
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(shapes), outs)


# =====================================================================================================
# Values
# =====================================================================================================

seeds = st.integers(0, 2 ** 32 - 1)
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)


def uniform(lo, hi):
    return lambda rng, shape: rng.uniform(lo, hi, shape)


def nonzero(lo, hi):
    """Magnitudes in [lo, hi], random signs: away from 0 (division, abs, negative integer powers)."""
    return lambda rng, shape: rng.choice([-1.0, 1.0], shape) * rng.uniform(lo, hi, shape)


def off_grid(step, margin=0.02, lo=-3.0, hi=3.0):
    """Uniform values at least `margin` away from multiples of `step` (floor/ceil/round jumps)."""
    def gen(rng, shape):
        x = rng.uniform(lo, hi, shape)
        near = np.abs(x - step * np.round(x / step)) < margin
        return np.where(near, x + 2.5 * margin, x)
    return gen


def distinct(rng, shapes, lo=-2.0, hi=2.0):
    """Arrays whose elements, all together, are at least 0.015 apart (no ties for max, min, argmax)."""
    sizes = [math.prod(s) for s in shapes]
    grid = np.arange(lo, hi, 0.02)
    vals = rng.choice(grid, sum(sizes), replace=False) + rng.uniform(0, 0.005, sum(sizes))
    out, start = [], 0
    for s, n in zip(shapes, sizes):
        out.append(vals[start:start + n].reshape(s))
        start += n
    return out


def small_ints(rng, shape):
    """Integer-valued floats in {-1, 0, 1}: ties for eq/ne."""
    return rng.integers(-1, 2, shape).astype(np.float64)


# =====================================================================================================
# Cases: one strategy per primitive
# =====================================================================================================


class Case:
    """f written twice (minigrad lax wrappers, jax), its arguments, which of them to differentiate."""

    def __init__(self, mg_fn, jax_fn, args, argnums=(0,), fd=True, desc=""):
        self.mg, self.jx, self.args, self.argnums = mg_fn, jax_fn, tuple(args), tuple(argnums)
        self.fd, self.desc = fd, desc

    def __repr__(self):
        args = ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.args)
        return f"Case({self.desc}; args {args}; argnums {self.argnums}; fd {self.fd};\n  values {self.args!r})"


CASES: dict = {}


def case(name):
    """Register a @st.composite function as the case strategy of primitive `name`."""
    def register(composite):
        CASES[name] = composite()
        return composite
    return register


UNARY = {
    "neg": (jlax.neg, uniform(-2, 2)),
    "exp": (jlax.exp, uniform(-2, 2)),
    "log": (jlax.log, uniform(0.3, 3)),
    "log1p": (jlax.log1p, uniform(-0.6, 2)),
    "expm1": (jlax.expm1, uniform(-2, 2)),
    "sin": (jlax.sin, uniform(-3, 3)),
    "cos": (jlax.cos, uniform(-3, 3)),
    "tan": (jlax.tan, uniform(-1.2, 1.2)),
    "tanh": (jlax.tanh, uniform(-3, 3)),
    "logistic": (jlax.logistic, uniform(-4, 4)),
    "sqrt": (jlax.sqrt, uniform(0.3, 3)),
    "abs": (jlax.abs, nonzero(0.05, 2)),
    "sign": (jlax.sign, nonzero(0.05, 2)),
    "floor": (jlax.floor, off_grid(1.0)),
    "ceil": (jlax.ceil, off_grid(1.0)),
    "round": (lambda x: jlax.round(x, jlax.RoundingMethod.TO_NEAREST_EVEN), off_grid(0.5)),
}


def _unary_strategy(name):
    jax_fn, domain = UNARY[name]
    mg_fn = getattr(lax, name)

    @st.composite
    def strategy(draw):
        shape, rng = draw(SHAPES), np.random.default_rng(draw(seeds))
        return Case(mg_fn, jax_fn, [domain(rng, shape)], desc=f"{name}")
    return strategy()


for _name in UNARY:
    CASES[_name] = _unary_strategy(_name)


@case("integer_pow")
@st.composite
def _integer_pow(draw):
    shape, y, rng = draw(SHAPES), draw(st.integers(-3, 4)), np.random.default_rng(draw(seeds))
    x = (nonzero(0.5, 2) if y < 0 else uniform(-2, 2))(rng, shape)
    return Case(lambda x: lax.integer_pow(x, y), lambda x: jlax.integer_pow(x, y), [x], desc=f"y={y}")


def _two_shapes(draw, n=2):
    return draw(hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=0, max_dims=3, max_side=3)).input_shapes


def _independent(dx, dy):
    return lambda rng, sx, sy: [dx(rng, sx), dy(rng, sy)]


BINARY = {
    "add": (jnp.add, _independent(uniform(-2, 2), uniform(-2, 2))),
    "sub": (jnp.subtract, _independent(uniform(-2, 2), uniform(-2, 2))),
    "mul": (jnp.multiply, _independent(uniform(-2, 2), uniform(-2, 2))),
    "div": (jnp.divide, _independent(uniform(-2, 2), nonzero(0.5, 2))),
    "pow": (jnp.power, _independent(uniform(0.5, 2), lambda rng, shape: np.where(  # some exponents exactly 0
        rng.random(shape) < 0.2, 0.0, rng.uniform(-2, 2, shape)))),
    "max": (jnp.maximum, lambda rng, sx, sy: distinct(rng, [sx, sy])),
    "min": (jnp.minimum, lambda rng, sx, sy: distinct(rng, [sx, sy])),
    "floordiv": (jnp.floor_divide, lambda rng, sx, sy: _off_integer_quotients(rng, sx, sy)),
    "mod": (jnp.remainder, lambda rng, sx, sy: _off_integer_quotients(rng, sx, sy)),
}


def _off_integer_quotients(rng, sx, sy):
    """x and y (y away from 0) whose quotients stay away from integers: // and % jump there."""
    for _ in range(200):
        x, y = rng.uniform(-3, 3, sx), rng.uniform(0.5, 2, sy) * rng.choice([-1.0, 1.0], sy)
        frac = np.abs(x / y - np.round(x / y))
        if np.all(frac > 0.1):
            return x, y
    y = np.ones(sy) * 0.7
    return np.full(sx, 1.05), y


def _binary_strategy(name):
    jax_fn, domain = BINARY[name]
    mg_fn = getattr(lax, name)

    @st.composite
    def strategy(draw):
        sx, sy = _two_shapes(draw)
        rng = np.random.default_rng(draw(seeds))
        return Case(mg_fn, jax_fn, domain(rng, sx, sy), argnums=(0, 1), desc=name)
    return strategy()


for _name in BINARY:
    CASES[_name] = _binary_strategy(_name)

# Comparisons and logic have no gradient of their own: the case routes x and y through a select on them.
COMPARE = {"eq": jnp.equal, "ne": jnp.not_equal, "lt": jnp.less, "le": jnp.less_equal,
           "gt": jnp.greater, "ge": jnp.greater_equal}


def _compare_strategy(name):
    jax_cmp, mg_cmp = COMPARE[name], getattr(lax, name)

    @st.composite
    def strategy(draw):
        sx, sy = _two_shapes(draw)
        rng = np.random.default_rng(draw(seeds))
        # eq/ne need ties to be tested at all, and a tie is a jump of the select: no finite differences there
        ties = name in ("eq", "ne") or draw(st.booleans())
        x, y = (small_ints(rng, sx), small_ints(rng, sy)) if ties else distinct(rng, [sx, sy])
        return Case(lambda x, y: lax.select(mg_cmp(x, y), lax.mul(x, y), lax.sub(x, y)),
                    lambda x, y: jnp.where(jax_cmp(x, y), x * y, x - y), [x, y], (0, 1), fd=not ties,
                    desc=f"select({name}(x, y), x * y, x - y), ties={ties}")
    return strategy()


for _name in COMPARE:
    CASES[_name] = _compare_strategy(_name)


def _zero(x):
    return np.zeros((), x.dtype)


@st.composite
def _logic_values(draw):
    sx, sy = _two_shapes(draw)
    rng = np.random.default_rng(draw(seeds))
    return distinct(rng, [sx, sy])


@case("and")
@st.composite
def _and(draw):
    x, y = draw(_logic_values())
    return Case(lambda x, y: lax.select(lax.logical_and(lax.gt(x, _zero(x)), lax.lt(y, _zero(y))),
                                        lax.mul(x, y), lax.sub(x, y)),
                lambda x, y: jnp.where((x > 0) & (y < 0), x * y, x - y), [x, y], (0, 1), desc="and")


@case("or")
@st.composite
def _or(draw):
    x, y = draw(_logic_values())
    return Case(lambda x, y: lax.select(lax.logical_or(lax.gt(x, _zero(x)), lax.lt(y, _zero(y))),
                                        lax.mul(x, y), lax.sub(x, y)),
                lambda x, y: jnp.where((x > 0) | (y < 0), x * y, x - y), [x, y], (0, 1), desc="or")


@case("not")
@st.composite
def _not(draw):
    x, y = draw(_logic_values())
    return Case(lambda x, y: lax.select(lax.logical_not(lax.gt(x, y)), lax.mul(x, y), lax.sub(x, y)),
                lambda x, y: jnp.where(~(x > y), x * y, x - y), [x, y], (0, 1), desc="not")


@case("select")
@st.composite
def _select(draw):
    sp, sx, sy = _two_shapes(draw, 3)
    rng = np.random.default_rng(draw(seeds))
    p = rng.random(sp) < 0.5
    x, y = rng.uniform(-2, 2, sx), rng.uniform(-2, 2, sy)
    return Case(lambda x, y: lax.select(p, x, y), lambda x, y: jnp.where(p, x, y), [x, y], (0, 1),
                desc=f"pred {p.tolist()}")


@case("convert_element_type")
@st.composite
def _convert(draw):
    shape, rng = draw(SHAPES), np.random.default_rng(draw(seeds))
    if draw(st.booleans()):  # through int32: piecewise constant, so only the outer x carries a gradient
        return Case(lambda x: lax.mul(x, lax.convert_element_type(lax.convert_element_type(x, np.int32), x.dtype)),
                    lambda x: x * x.astype(np.int32).astype(x.dtype), [off_grid(1.0)(rng, shape)],
                    desc="x * float(int(x))")
    # to the other float width; float32 rounding would swamp finite differences
    other = lambda x: np.float32 if x.dtype == np.float64 else np.float64  # noqa: E731
    return Case(lambda x: lax.convert_element_type(x, other(x)), lambda x: x.astype(other(x)),
                [rng.uniform(-2, 2, shape)], fd=False, desc="to the other float width")


@case("stop_gradient")
@st.composite
def _stop_gradient(draw):
    shape, rng = draw(SHAPES), np.random.default_rng(draw(seeds))
    # finite differences see through stop_gradient, so only JAX can check this one
    return Case(lambda x: lax.mul(x, lax.sin(lax.stop_gradient(x))), lambda x: x * jnp.sin(jlax.stop_gradient(x)),
                [rng.uniform(-2, 2, shape)], fd=False, desc="x * sin(stop_gradient(x))")


@case("iota")
@st.composite
def _iota(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3))
    dim, rng = draw(st.integers(0, len(shape) - 1)), np.random.default_rng(draw(seeds))
    return Case(lambda x: lax.mul(x, lax.iota(x.dtype, x.shape, dim)),
                lambda x: x * jlax.broadcasted_iota(x.dtype, x.shape, dim), [rng.uniform(-2, 2, shape)],
                desc=f"x * iota(dimension={dim})")


def _arg_strategy(name):
    mg_arg, jax_arg = getattr(lax, name), getattr(jnp, name)

    @st.composite
    def strategy(draw):
        # x[argmax(x, axis), arange]: the gradient flows through the gather, none through the argmax
        ndim = draw(st.integers(1, 2))
        shape = draw(hnp.array_shapes(min_dims=ndim, max_dims=ndim, max_side=4))
        axis, idt = draw(st.integers(0, ndim - 1)), draw(st.sampled_from([np.int32, np.int64]))
        rng = np.random.default_rng(draw(seeds))
        (x,) = distinct(rng, [shape])

        def mg_fn(x):
            i = mg_arg(x, axis, idt)
            if x.ndim == 1:
                return lax.gather(x, lax.reshape(i, (1,)))
            m = x.shape[1 - axis]
            cols = [lax.reshape(i, (m, 1)), lax.reshape(lax.iota(idt, (m,), 0), (m, 1))]
            return lax.gather(x, lax.concatenate(cols if axis == 0 else cols[::-1], 1))

        def jax_fn(x):
            i = jax_arg(x, axis)
            if x.ndim == 1:
                return x[i]
            r = jnp.arange(x.shape[1 - axis])
            return x[i, r] if axis == 0 else x[r, i]
        return Case(mg_fn, jax_fn, [x], desc=f"x[{name}(x, {axis})], index dtype {np.dtype(idt).name}")
    return strategy()


CASES["argmax"] = _arg_strategy("argmax")
CASES["argmin"] = _arg_strategy("argmin")


@case("cumsum")
@st.composite
def _cumsum_case(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    axis, reverse, rng = draw(st.integers(0, len(shape) - 1)), draw(st.booleans()), np.random.default_rng(draw(seeds))
    return Case(lambda x: lax.cumsum(x, axis, reverse), lambda x: jlax.cumsum(x, axis, reverse),
                [rng.uniform(-2, 2, shape)], desc=f"axis={axis} reverse={reverse}")


REDUCE = {"reduce_sum": jnp.sum, "reduce_max": jnp.max, "reduce_min": jnp.min, "reduce_prod": jnp.prod}


def _reduce_strategy(name):
    jax_fn, mg_fn = REDUCE[name], getattr(lax, name)

    @st.composite
    def strategy(draw):
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
        axes = tuple(sorted(a % len(shape) for a in draw(hnp.valid_tuple_axes(len(shape)))))
        rng = np.random.default_rng(draw(seeds))
        if name in ("reduce_max", "reduce_min"):
            (x,) = distinct(rng, [shape])
        elif name == "reduce_prod":
            x = nonzero(0.5, 1.5)(rng, shape)
        else:
            x = rng.uniform(-2, 2, shape)
        return Case(lambda x: mg_fn(x, axes), lambda x: jax_fn(x, axis=axes), [x], desc=f"axes={axes}")
    return strategy()


for _name in REDUCE:
    CASES[_name] = _reduce_strategy(_name)


@case("broadcast_in_dim")
@st.composite
def _broadcast_in_dim(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3))
    dims = tuple(sorted(draw(st.sets(st.integers(0, len(shape) - 1)))))
    xshape = tuple(1 if draw(st.booleans()) else shape[d] for d in dims)
    assume(not (xshape == shape and dims == tuple(range(len(shape)))))  # the wrapper skips identities
    x = np.random.default_rng(draw(seeds)).uniform(-2, 2, xshape)
    return Case(lambda x: lax.broadcast_in_dim(x, shape, dims), lambda x: jlax.broadcast_in_dim(x, shape, dims),
                [x], desc=f"to {shape} along {dims}")


@case("reshape")
@st.composite
def _reshape_case(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
    new = []
    for d in draw(st.permutations(shape)):
        if new and draw(st.booleans()):
            new[-1] *= d
        else:
            new.append(d)
    if draw(st.booleans()):
        new.insert(draw(st.integers(0, len(new))), 1)
    new = tuple(new)
    assume(new != shape)
    x = np.random.default_rng(draw(seeds)).uniform(-2, 2, shape)
    return Case(lambda x: lax.reshape(x, new), lambda x: jlax.reshape(x, new), [x], desc=f"to {new}")


@case("transpose")
@st.composite
def _transpose_case(draw):
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=4, max_side=3))
    perm = tuple(draw(st.permutations(range(len(shape)))))
    assume(perm != tuple(range(len(shape))))
    x = np.random.default_rng(draw(seeds)).uniform(-2, 2, shape)
    return Case(lambda x: lax.transpose(x, perm), lambda x: jlax.transpose(x, perm), [x], desc=f"perm={perm}")


@case("squeeze")
@st.composite
def _squeeze_case(draw):
    shape = list(draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=3)))
    dims = tuple(sorted(draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))))
    for d in dims:
        shape[d] = 1
    x = np.random.default_rng(draw(seeds)).uniform(-2, 2, shape)
    return Case(lambda x: lax.squeeze(x, dims), lambda x: jlax.squeeze(x, dims), [x], desc=f"dims={dims}")


@case("concatenate")
@st.composite
def _concatenate_case(draw):
    base = list(draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3)))
    dim, n = draw(st.integers(0, len(base) - 1)), draw(st.integers(2, 3))
    rng = np.random.default_rng(draw(seeds))
    xs = []
    for s in draw(st.lists(st.integers(1, 3), min_size=n, max_size=n)):
        base[dim] = s
        xs.append(rng.uniform(-2, 2, base))
    return Case(lambda *xs: lax.concatenate(xs, dim), lambda *xs: jlax.concatenate(xs, dim), xs,
                tuple(range(n)), desc=f"dimension={dim}")


@case("slice")
@st.composite
def _slice_case(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=5))
    start = [draw(st.integers(0, d - 1)) for d in shape]
    limit = [draw(st.integers(s + 1, d)) for s, d in zip(start, shape)]
    strides = [draw(st.integers(1, 3)) for _ in shape]
    assume(tuple(limit) != shape or any(start) or any(s != 1 for s in strides))
    x = np.random.default_rng(draw(seeds)).uniform(-2, 2, shape)
    return Case(lambda x: lax.slice(x, start, limit, strides), lambda x: jlax.slice(x, start, limit, strides),
                [x], desc=f"start={start} limit={limit} strides={strides}")


@case("pad")
@st.composite
def _pad_case(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3))
    config = [tuple(draw(st.integers(0, 2)) for _ in range(3)) for _ in shape]
    x = np.random.default_rng(draw(seeds)).uniform(-2, 2, shape)
    return Case(lambda x: lax.pad(x, config), lambda x: jlax.pad(x, 0.0, config), [x], desc=f"config={config}")


@case("rev")
@st.composite
def _rev_case(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3))
    dims = tuple(sorted(draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))))
    x = np.random.default_rng(draw(seeds)).uniform(-2, 2, shape)
    return Case(lambda x: lax.rev(x, dims), lambda x: jlax.rev(x, dims), [x], desc=f"dims={dims}")


@case("dot_general")
@st.composite
def _dot_general_case(draw):
    nb, nc = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    nxf = draw(st.integers(0, 3 - nb - (nc > 1)))
    nyf = draw(st.integers(0, 3 - nb - (nc > 1)))
    side = st.integers(1, 3)
    b = [draw(side) for _ in range(nb)]
    c = [draw(side) for _ in range(nc)]
    xf, yf = [draw(side) for _ in range(nxf)], [draw(side) for _ in range(nyf)]

    def place(free):
        # logical axes (batch..., contracting..., free...) put at random physical positions
        n = nb + nc + len(free)
        pos = draw(st.permutations(range(n)))
        shape = [0] * n
        for logical, p in enumerate(pos):
            shape[p] = (b + c + free)[logical]
        return tuple(shape), tuple(pos[:nb]), tuple(pos[nb:nb + nc])

    xshape, xb, xc = place(xf)
    yshape, yb, yc = place(yf)
    dn = ((xc, yc), (xb, yb))
    rng = np.random.default_rng(draw(seeds))
    x, y = rng.uniform(-2, 2, xshape), rng.uniform(-2, 2, yshape)
    return Case(lambda x, y: lax.dot_general(x, y, dn),
                lambda x, y: jlax.dot_general(x, y, dn, precision=jlax.Precision.HIGHEST), [x, y], (0, 1),
                desc=f"dimension_numbers={dn}")


@st.composite
def _indexing(draw):
    """An operand shape, and in-range indices of shape batch + (k,) (duplicates likely), int32 or int64."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3))
    k = draw(st.integers(1, len(shape)))
    batch = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
    raw = draw(hnp.arrays(np.int64, batch + (k,), elements=st.integers(0, 1000)))
    idx = (raw % np.array(shape[:k])).astype(draw(st.sampled_from([np.int32, np.int64])))
    return shape, idx, np.random.default_rng(draw(seeds))


@case("gather")
@st.composite
def _gather_case(draw):
    shape, idx, rng = draw(_indexing())
    where = tuple(np.moveaxis(idx, -1, 0))
    return Case(lambda x: lax.gather(x, idx), lambda x: x[where], [rng.uniform(-2, 2, shape)],
                desc=f"idx={idx.tolist()} ({idx.dtype})")


@case("scatter_add")
@st.composite
def _scatter_add_case(draw):
    shape, idx, rng = draw(_indexing())
    where = tuple(np.moveaxis(idx, -1, 0))
    upd_shape = idx.shape[:-1] + shape[idx.shape[-1]:]
    return Case(lambda x, u: lax.scatter_add(x, idx, u), lambda x, u: x.at[where].add(u),
                [rng.uniform(-2, 2, shape), rng.uniform(-2, 2, upd_shape)], (0, 1),
                desc=f"idx={idx.tolist()} ({idx.dtype})")


NOT_DIFFERENTIABLE = {"eq", "ne", "lt", "le", "gt", "ge", "and", "or", "not", "argmax", "argmin", "iota",
                      "stop_gradient", "sign", "floor", "ceil", "round"}


# =====================================================================================================
# First order: grad of sum(f(args) * c) against jax.grad and central finite differences
# =====================================================================================================


def _with(args, argnums, dyn):
    full = list(args)
    for i, d in zip(argnums, dyn):
        full[i] = d
    return full


def _contract(out, c):
    """sum(out * c) with the lax wrappers: every element of out matters."""
    return lax.reduce_sum(lax.mul(out, c), tuple(range(len(out.shape))))


def _check_recorded(name, case, out):
    closed = mg.make_jaxpr(case.mg, optimize=False)(*case.args)  # as recorded: x ** 1 would be simplified away
    mg.typecheck(closed.jaxpr)
    mg.typecheck(mg.make_jaxpr(case.mg)(*case.args).jaxpr)
    recorded = {e.prim.name for e in closed.jaxpr.eqns}  # iota too: staged even with no operands
    assert name in recorded, f"the case for {name} records only {sorted(recorded)}"
    assert closed.out_avals[0] == ShapedArray(out.shape, out.dtype), (closed.out_avals, out.shape, out.dtype)


def check_vjp(name, data):
    case = data.draw(CASES[name], label="case")
    args, nums = case.args, case.argnums
    out = np.asarray(case.mg(*args))
    _check_recorded(name, case, out)
    ref = np.asarray(jax_ref(case.jx, *args))
    assert out.dtype == ref.dtype and out.shape == ref.shape, (out.dtype, out.shape, ref.dtype, ref.shape)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12, err_msg="forward values differ from JAX")

    rng = np.random.default_rng(data.draw(seeds, label="cotangent seed"))
    c = rng.standard_normal(out.shape).astype(out.dtype)
    dyn = [args[i] for i in nums]
    loss = lambda *d: _contract(case.mg(*_with(args, nums, d)), c)  # noqa: E731
    ours = mg.grad(loss, argnums=tuple(range(len(nums))))(*dyn)
    theirs = jax_ref(jax.grad(lambda *d: jnp.sum(case.jx(*_with(args, nums, d)) * c),
                              argnums=tuple(range(len(nums)))), *dyn)
    for k, (g, a, t) in enumerate(zip(ours, dyn, theirs)):
        assert isinstance(g, np.ndarray) and g.shape == a.shape and g.dtype == a.dtype, \
            f"gradient {k}: {type(g).__name__} {np.shape(g)} {getattr(g, 'dtype', None)} for {a.shape} {a.dtype}"
        np.testing.assert_allclose(g, t, rtol=1e-9, atol=1e-12, err_msg=f"gradient {k} differs from jax.grad")
        if case.fd:
            num = numerical_grad(lambda *d: loss(*d), dyn, k)
            np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-6,
                                       err_msg=f"gradient {k} differs from finite differences")

    # float32 in, float32 gradient out, and the same gradient to float32 precision
    dyn32 = [a.astype(np.float32) for a in dyn]
    args32 = [a.astype(np.float32) if a.dtype == np.float64 else a for a in args]
    out32 = case.mg(*args32)
    c32 = c.astype(aval_of(out32).dtype)
    ours32 = mg.grad(lambda *d: _contract(case.mg(*_with(args32, nums, d)), c32),
                     argnums=tuple(range(len(nums))))(*dyn32)
    for k, (g32, g) in enumerate(zip(ours32, ours)):
        assert isinstance(g32, np.ndarray) and g32.dtype == np.float32 and g32.shape == g.shape, \
            f"float32 gradient {k}: {type(g32).__name__} {getattr(g32, 'dtype', None)} {np.shape(g32)}"
        np.testing.assert_allclose(g32, g, rtol=1e-3, atol=1e-3 * (1 + np.abs(g).max(initial=0)),
                                   err_msg=f"float32 gradient {k} differs from the float64 one")


# =====================================================================================================
# Second order: a Hessian-vector product, grad of <grad f, v>, against JAX's
# =====================================================================================================


SECOND_ORDER = sorted(set(UNARY) | set(BINARY) | set(COMPARE) | set(REDUCE) | {
    "integer_pow", "select", "cumsum", "dot_general", "gather", "scatter_add", "convert_element_type",
    "stop_gradient", "argmax", "broadcast_in_dim", "transpose", "slice", "pad", "concatenate"})


def check_second_order(name, data):
    case = data.draw(CASES[name], label="case")
    args, nums = case.args, case.argnums
    out = np.asarray(case.mg(*args))
    rng = np.random.default_rng(data.draw(seeds, label="seed"))
    c = rng.standard_normal(out.shape).astype(out.dtype)
    dyn = [args[i] for i in nums]
    vs = [rng.standard_normal(a.shape) for a in dyn]
    every = tuple(range(len(nums)))

    # sin makes the cotangent reaching the primitive depend on the inputs, so its VJP rule is differentiated
    def f(*d):
        return _contract(lax.sin(case.mg(*_with(args, nums, d))), c)

    def hvp_objective(*d):
        gs = mg.grad(f, argnums=every)(*d)
        terms = [lax.reduce_sum(lax.mul(g, v), tuple(range(v.ndim))) for g, v in zip(gs, vs)]
        total = terms[0]
        for t in terms[1:]:
            total = lax.add(total, t)
        return total

    def jf(*d):
        return jnp.sum(jnp.sin(case.jx(*_with(args, nums, d))) * c)

    def jax_objective(*d):
        return sum(jnp.sum(g * v) for g, v in zip(jax.grad(jf, argnums=every)(*d), vs))

    ours = mg.grad(hvp_objective, argnums=every)(*dyn)
    theirs = jax_ref(jax.grad(jax_objective, argnums=every), *dyn)
    for k, (g, a, t) in enumerate(zip(ours, dyn, theirs)):
        assert isinstance(g, np.ndarray) and g.shape == a.shape and g.dtype == a.dtype
        np.testing.assert_allclose(g, t, rtol=1e-9, atol=1e-11,
                                   err_msg=f"Hessian-vector product {k} differs from JAX's")


# =====================================================================================================
# Conventions at non-smooth points, against compiled jax.grad: helpers
# =====================================================================================================


def _grads(mg_f, jax_f, *args, argnums=None):
    argnums = tuple(range(len(args))) if argnums is None else argnums
    ours = mg.grad(mg_f, argnums=argnums)(*args)
    theirs = jax.grad(jax_f, argnums=argnums)(*[jnp.asarray(a) for a in args])
    for g, t in zip(ours, theirs):
        np.testing.assert_allclose(g, np.asarray(t), rtol=1e-14, atol=0)  # zeros exact; nan and inf alike
    return ours


def _sum(x):
    return lax.reduce_sum(x, tuple(range(len(x.shape))))

# =====================================================================================================
# Non-differentiable primitives: no gradient through them
# =====================================================================================================


def _bool_as(x, p):
    return lax.convert_element_type(p, x.dtype)


# f(x, y) whose value depends on x and y only through the primitive: the gradient must be zero, and grad's
# program must compute nothing (no cotangent flows back through a non-differentiable output)
def _through(mg_op, jax_op):
    return lambda x, y: mg_op(lax.mul(x, y)), lambda x, y: jax_op(x * y)


ZERO_GRADIENT = {
    **{n: (lambda n: (lambda x, y: _bool_as(x, getattr(lax, n)(x, y)),
                      lambda x, y: COMPARE[n](x, y).astype(x.dtype)))(n) for n in COMPARE},
    "and": (lambda x, y: _bool_as(x, lax.logical_and(lax.gt(x, _zero(x)), lax.gt(y, _zero(y)))),
            lambda x, y: ((x > 0) & (y > 0)).astype(x.dtype)),
    "or": (lambda x, y: _bool_as(x, lax.logical_or(lax.gt(x, _zero(x)), lax.gt(y, _zero(y)))),
           lambda x, y: ((x > 0) | (y > 0)).astype(x.dtype)),
    "not": (lambda x, y: _bool_as(x, lax.logical_not(lax.gt(x, y))), lambda x, y: (~(x > y)).astype(x.dtype)),
    "argmax": _through(lambda z: lax.convert_element_type(lax.argmax(z, 0), z.dtype),
                       lambda z: jnp.argmax(z, 0).astype(z.dtype)),
    "argmin": _through(lambda z: lax.convert_element_type(lax.argmin(z, 0), z.dtype),
                       lambda z: jnp.argmin(z, 0).astype(z.dtype)),
    "stop_gradient": _through(lax.stop_gradient, jlax.stop_gradient),
    "convert_element_type to int": _through(
        lambda z: lax.convert_element_type(lax.convert_element_type(z, np.int32), z.dtype),
        lambda z: z.astype(np.int32).astype(z.dtype)),
    **{n: _through(getattr(lax, n), UNARY[n][0]) for n in ("sign", "floor", "ceil", "round")},
}


def check_no_gradient(name, dtype):
    mg_fn, jax_fn = ZERO_GRADIENT[name]
    x = np.array([[-1.5, 0.0, 2.25], [1.0, 3.5, -0.75]], dtype=dtype)
    y = np.array([[0.5, 0.0, -2.0], [1.0, 1.0, 1.0]], dtype=dtype)
    c = np.arange(1.0, 1.0 + np.size(mg_fn(x, y))).reshape(np.shape(mg_fn(x, y))).astype(dtype)
    loss = lambda x, y: _sum(lax.mul(mg_fn(x, y), c))  # noqa: E731
    np.testing.assert_array_equal(mg_fn(x, y), np.asarray(jax_fn(x, y)))
    gx, gy = mg.grad(loss, argnums=(0, 1))(x, y)
    for g, a in ((gx, x), (gy, y)):
        assert g.dtype == dtype and g.shape == a.shape
        np.testing.assert_array_equal(g, np.zeros_like(a))
    jgx, jgy = jax_ref(jax.grad(lambda x, y: jnp.sum(jax_fn(x, y) * c), argnums=(0, 1)), x, y)
    np.testing.assert_array_equal(jgx, 0.0)
    np.testing.assert_array_equal(jgy, 0.0)
    closed = mg.make_jaxpr(mg.grad(loss, argnums=(0, 1)))(x, y)
    assert closed.jaxpr.eqns == [], f"grad's program computes something through {name}:\n{closed}"


# =====================================================================================================
# Shape rules against the numpy implementations, float32 and float64; make_jaxpr + typecheck
# =====================================================================================================


def _F(*shape):
    return ("f", shape)


def _I(array):
    return ("i", np.asarray(array))


def _B(*shape):
    return ("b", shape)


_U = [((_F(2, 3),), {}), ((_F(),), {})]
_BIN = [((_F(2, 3), _F(3)), {}), ((_F(), _F(2, 1)), {}), ((_F(2, 1, 3), _F(4, 1)), {})]
SHAPE_EXAMPLES = {
    **{n: _U for n in UNARY},
    **{n: _BIN for n in BINARY},
    **{n: _BIN for n in COMPARE},
    "integer_pow": [((_F(2, 3),), {"y": 3}), ((_F(2),), {"y": -2}), ((_F(),), {"y": 0})],
    "and": [((_B(2, 3), _B(3)), {}), ((_B(), _B(2)), {})],
    "or": [((_B(2, 3), _B(3)), {}), ((_B(), _B(2)), {})],
    "not": [((_B(2, 3),), {}), ((_B(),), {})],
    "select": [((_B(2, 3), _F(3), _F(2, 1)), {}), ((_B(), _F(), _F()), {})],
    "convert_element_type": [((_F(2, 3),), {"new_dtype": np.dtype(np.int32)}),
                             ((_F(2),), {"new_dtype": np.dtype(np.float32)}),
                             ((_F(),), {"new_dtype": np.dtype(np.float64)})],
    "stop_gradient": _U,
    "reduce_sum": [((_F(2, 3, 4),), {"axes": (0, 2)}), ((_F(2, 3),), {"axes": (0, 1)}), ((_F(2),), {"axes": ()})],
    "reduce_max": [((_F(2, 3, 4),), {"axes": (1,)}), ((_F(2, 3),), {"axes": (0, 1)})],
    "reduce_min": [((_F(2, 3, 4),), {"axes": (0, 2)}), ((_F(3),), {"axes": (0,)})],
    "reduce_prod": [((_F(2, 3, 4),), {"axes": (2,)}), ((_F(2, 3),), {"axes": (0, 1)}), ((_F(2),), {"axes": ()})],
    "argmax": [((_F(2, 3),), {"axis": 1, "index_dtype": np.dtype(np.int32)}),
               ((_F(4),), {"axis": 0, "index_dtype": np.dtype(np.int64)})],
    "argmin": [((_F(2, 3),), {"axis": 0, "index_dtype": np.dtype(np.int64)}),
               ((_F(4),), {"axis": 0, "index_dtype": np.dtype(np.int32)})],
    "cumsum": [((_F(2, 3),), {"axis": 1, "reverse": False}), ((_F(4),), {"axis": 0, "reverse": True})],
    "broadcast_in_dim": [((_F(3),), {"shape": (2, 3), "broadcast_dimensions": (1,)}),
                         ((_F(),), {"shape": (2,), "broadcast_dimensions": ()}),
                         ((_F(2, 1),), {"shape": (2, 4, 3), "broadcast_dimensions": (0, 2)})],
    "reshape": [((_F(2, 3),), {"new_sizes": (3, 2)}), ((_F(6),), {"new_sizes": (1, 6, 1)}),
                ((_F(1),), {"new_sizes": ()})],
    "transpose": [((_F(2, 3, 4),), {"permutation": (2, 0, 1)}), ((_F(2, 3),), {"permutation": (1, 0)})],
    "squeeze": [((_F(1, 3, 1),), {"dimensions": (0, 2)}), ((_F(1),), {"dimensions": (0,)})],
    "concatenate": [((_F(2, 3), _F(2, 1)), {"dimension": 1}), ((_F(1), _F(2), _F(3)), {"dimension": 0})],
    "slice": [((_F(5, 4),), {"start_indices": (1, 0), "limit_indices": (5, 3), "strides": (2, 1)}),
              ((_F(3),), {"start_indices": (1,), "limit_indices": (1,), "strides": (1,)})],
    "pad": [((_F(2, 3),), {"padding_config": ((1, 0, 1), (0, 2, 0))}), ((_F(3),), {"padding_config": ((0, 0, 2),)})],
    "rev": [((_F(2, 3),), {"dimensions": (0, 1)}), ((_F(3),), {"dimensions": (0,)})],
    "iota": [((), {"dtype": np.dtype(np.int32), "shape": (2, 3), "dimension": 1}),
             ((), {"dtype": np.dtype(np.float32), "shape": (4,), "dimension": 0}),
             ((), {"dtype": np.dtype(np.float64), "shape": (2, 2), "dimension": 0})],
    "dot_general": [((_F(2, 3), _F(3, 4)), {"dimension_numbers": (((1,), (0,)), ((), ()))}),
                    ((_F(5, 2, 3), _F(3, 5)), {"dimension_numbers": (((2,), (0,)), ((0,), (1,)))}),
                    ((_F(3), _F(3)), {"dimension_numbers": (((0,), (0,)), ((), ()))}),
                    ((_F(2), _F(3)), {"dimension_numbers": (((), ()), ((), ()))})],
    "gather": [((_F(4, 3), _I([[0], [3], [3]])), {}), ((_F(4, 3), _I([1, 2])), {}),
               ((_F(4, 3, 2), _I([[[0, 1]], [[3, 2]]])), {})],
    "scatter_add": [((_F(4, 3), _I([[0], [3], [3]]), _F(3, 3)), {}), ((_F(4, 3), _I([1, 2]), _F()), {}),
                    ((_F(4, 3, 2), _I([[[0, 1]], [[3, 2]]]), _F(2, 1, 2)), {})],
}


def _make(spec, dtype, rng):
    kind, v = spec
    if kind == "f":
        return rng.uniform(0.5, 1.5, v).astype(dtype)
    if kind == "b":
        return rng.random(v) < 0.5
    return v


def check_shape_rule(name, dtype):
    prim = lax.all_primitives()[name]
    rng = np.random.default_rng(0)
    for specs, params in SHAPE_EXAMPLES[name]:
        args = [_make(s, dtype, rng) for s in specs]
        out = prim.impl(*args, **params)
        rule = prim.shape_rule(*[aval_of(a) for a in args], **params)
        assert isinstance(out, (np.ndarray, np.generic)), f"{name} impl returned a {type(out).__name__}"
        got = ShapedArray(np.shape(out), np.asarray(out).dtype)
        assert rule == got, f"{name}{[str(aval_of(a)) for a in args]} {params}: rule {rule!r}, impl {got!r}"
        if rule.dtype.kind == "f" and name != "iota":  # float32 stays float32, float64 stays float64
            assert rule.dtype == params.get("new_dtype", dtype), f"{name}: {np.dtype(dtype).name} in, {rule.dtype} out"
        closed = mg.make_jaxpr(lambda *a: prim.bind(*a, **params), optimize=False)(*args)  # as recorded
        mg.typecheck(closed.jaxpr)
        assert [e.prim.name for e in closed.jaxpr.eqns] == [name]  # recorded even with no operands (omnistaging)
        assert closed.out_avals == [got]
        np.testing.assert_array_equal(mg.eval_jaxpr(closed.jaxpr, closed.consts, args)[0], out)


# =====================================================================================================
# mg.check_grads on every primitive (our VJP vs jax.vjp of the lowered IR vs finite differences),
# and each primitive compiled by XLA through its lowering rule against the numpy implementation
# =====================================================================================================


def check_grads_and_xla_lowering(name, data):
    case = data.draw(CASES[name], label="case")
    args, nums = case.args, case.argnums
    if case.fd and nums:
        mg.check_grads(lambda *d: case.mg(*_with(args, nums, d)), [args[i] for i in nums],
                       order=2 if name in SECOND_ORDER else 1)
    compiled = mg.jit(case.mg)(*args)
    eager = case.mg(*args)
    assert compiled.dtype == np.asarray(eager).dtype and compiled.shape == np.shape(eager)
    np.testing.assert_allclose(np.asarray(compiled), eager, rtol=1e-12, atol=1e-12)
