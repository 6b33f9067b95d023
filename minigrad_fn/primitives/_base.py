"""Helpers shared by the primitive families: defining a primitive, how it is displayed, shape-rule checks,
constants."""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from tracing import DTypeError, Primitive, ShapedArray, ShapeError, short_dtype


class VJP:
    """A primitive's reverse-mode rule, in the one shape every VJP rule has: a forward part and a
    backward part.

    - `fwd(parent, prim, args, params, in_avals, out_avals) -> (outs, residuals)` computes the outputs in
      the `parent` trace and returns what the backward part needs (grad keeps exactly that, no more).
    - `bwd(eqn, residuals, cts, wanted) -> list`: one cotangent per operand (None: zero, or not wanted),
      from the equation (its params, and its operands' and outputs' avals), the residuals, one cotangent
      per output (None: a symbolic zero) and `wanted[i]`, whether operand i needs one.

    The default forward part (`fwd=None`) binds the primitive and keeps the values of the operands at
    positions `reads` (every operand when None), then the outputs' values with `reads_ans`.
    A primitive whose backward needs other intermediates (a call's body, later a loop) gives its own `fwd`.
    """

    __slots__ = ("fwd", "bwd", "reads", "reads_ans")

    def __init__(self, bwd: Callable, reads: Sequence[int] | None = None, reads_ans: bool | None = None,
                 fwd: Callable | None = None):
        self.bwd = bwd
        self.reads = None if reads is None else tuple(sorted(reads))
        self.reads_ans = reads is None if reads_ans is None else reads_ans
        self.fwd = fwd  # None: the default forward part, which grad runs inline (autodiff.vjp_forward)


KINDS = ("elementwise", "moves", "other")


@dataclass(frozen=True)
class Display:
    """How the pictures (graph.py) and the backprop tables (explain.py) show a primitive's equations.

    - `short`: the gate's label in pictures (the primitive's name when empty): `sum` for reduce_sum.
    - `params(eqn) -> str`: the parameters worth showing, short (`axes=(0,)`); None: all of them.
    - `kind`: "elementwise" (a diagonal Jacobian: the table shows the local gradient as numbers), "moves"
      (values are only moved: so is the gradient) or "other".
    - `local`: the local gradient in words, where it is not shown as numbers.
    - `pattern`: the lecture's name for what the gate does with the gradient ("add distributes: ...").
    - `formula`: the local gradient as a student writes it, per operand: a string for a one-operand gate
      (exp: "exp(x)"), a tuple with one string per operand (div: ("1/y", "-x/y^2"); "" where none), or a
      function `formula(eqn)` returning either, where it depends on the parameters (integer_pow: "3*x^2").
      The operands are x, y, z in order; the tables put in their names, and the numbers of literal
      operands (div(1, g): "-1/g^2"). Elementwise gates show it next to the number ("exp(e) = 0.37");
      the others show it alone, in words ("W^T upstream").
    """
    short: str = ""
    params: Callable | None = None
    kind: str = "other"
    local: str = ""
    pattern: str = ""
    formula: str | tuple | Callable = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Display kind {self.kind!r} is not one of {KINDS}")
        if not (isinstance(self.formula, str) or callable(self.formula)
                or (isinstance(self.formula, tuple) and all(isinstance(f, str) for f in self.formula))):
            raise ValueError(f"Display formula must be a string, a tuple of strings or a function of the "
                             f"equation, got {self.formula!r}")

    def formulas(self, eqn) -> list:
        """The formula of each of `eqn`'s operands, in the x, y, z of the templates ('' where none)."""
        f = self.formula(eqn) if callable(self.formula) else self.formula
        f = (f,) if isinstance(f, str) else tuple(f)
        return list(f[:len(eqn.invars)]) + [""] * (len(eqn.invars) - len(f))


def show_param(key: str, label: str | None = None) -> Callable:
    """A display's `params`: one parameter as `label=value` (a list shown as a tuple)."""
    label = key if label is None else label

    def text(eqn) -> str:
        v = eqn.params[key]
        return f"{label}={tuple(v) if isinstance(v, (list, tuple)) else v}"
    return text


def show_out_shape(eqn) -> str:
    """A display's `params`: `to f64[2,3]`, the output's dtype and shape (for reshapes and broadcasts)."""
    a = eqn.outvars[0].aval
    return f"to {short_dtype(a.dtype)}[{','.join(map(str, a.shape))}]"


def show_nothing(eqn) -> str:
    """A display's `params` for parameters too long to be worth showing (dot_general's)."""
    return ""


def per_operand(rules: Sequence, reads: Sequence[int] | None = None,
                reads_ans: bool | None = None) -> Callable:
    """A backward part from one rule per operand, `rule(g, ans, *operands, **params) -> cotangent`, for
    residuals kept by the default forward part with these `reads`/`reads_ans` (see VJP): the rules get
    values where those were kept and avals (shape and dtype) elsewhere. An entry None means no gradient
    flows to that operand (integer operands, piecewise-constant functions)."""
    reads = None if reads is None else tuple(sorted(reads))
    reads_ans = reads is None if reads_ans is None else reads_ans
    n_reads = 0 if reads is None else len(reads)

    def bwd(eqn, res, cts, wanted):  # runs once per backward equation: kept lean
        if reads is None:
            n = len(eqn.invars)
            ins, ans = res[:n], res[n] if reads_ans else eqn.outvars[0].aval
        else:
            ins = [v.aval for v in eqn.invars]
            for i, x in zip(reads, res):
                ins[i] = x
            ans = res[n_reads] if reads_ans else eqn.outvars[0].aval
        g, params, out = cts[0], eqn.params, []
        for rule, w in zip(bwd.rules, wanted):
            out.append(rule(g, ans, *ins, **params) if w and rule is not None else None)
        return out
    bwd.rules = list(rules)  # swappable (tests plant a wrong rule here)
    return bwd


def primitive(name: str, shape_rule: Callable, impl: Callable, vjp: Sequence | Callable | VJP | None,
              lower: Callable | None = None, multiple_results: bool = False,
              reads: Sequence[int] | None = None, reads_ans: bool | None = None,
              display: Display | None = None) -> Primitive:
    """Make a primitive with its shape rule, numpy implementation, VJP rule, JAX lowering and display.

    `vjp` is a VJP, a list with one rule per operand (see `per_operand`), or a backward part
    `bwd(eqn, residuals, cts, wanted)`; `reads`/`reads_ans` say what the default forward part keeps
    (see VJP). A list whose rules are all None reads nothing.
    None means the primitive has no VJP rule: differentiating through it is an error naming it, never a
    zero (a non-differentiable primitive says so with a list of None).
    `lower(*operands, **params)` computes the same result with `jax.lax` on JAX values (for jit).
    `display` says how pictures and tables show it (see Display; without one they show its name and all
    its parameters).
    """
    p = Primitive(name, shape_rule, impl, multiple_results)
    if isinstance(vjp, (list, tuple)):
        if all(r is None for r in vjp) and reads is None:
            reads, reads_ans = (), False
        vjp = VJP(per_operand(vjp, reads, reads_ans), reads, reads_ans)
    elif vjp is not None and not isinstance(vjp, VJP):
        vjp = VJP(vjp, reads, reads_ans)
    if vjp is not None:
        p.rules["vjp"] = vjp
    if lower is not None:
        p.rules["lower"] = lower
    if display is not None:
        p.rules["display"] = display
    return p


class _LazyModule:
    """A module imported on first attribute access: lowering rules name `lax.add`, yet
    `import minigrad_fn` does not import JAX; a family's VJP rules name a family imported after it."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr):
        module = importlib.import_module(self._name)
        self.__dict__.update(vars(module))  # later lookups are plain attribute hits
        return getattr(module, attr)


lax = _LazyModule("jax.lax")
jnp = _LazyModule("jax.numpy")


def later_family(name: str) -> _LazyModule:
    """The primitive family `name`, imported when a rule first uses it. The families import one another one
    way (elementwise -> reductions -> shape; linalg, indexing -> shape); the few VJP rules that need a
    family above their own (reduce_max's needs mul, broadcast_in_dim's needs reduce_sum) name it this way."""
    return _LazyModule(f"{__package__}.{name}")


def broadcast_all(*xs):
    """Numpy-broadcast JAX operands to one shape (lax's elementwise operations need equal shapes)."""
    shape = np.broadcast_shapes(*(np.shape(x) for x in xs))
    return [x if np.shape(x) == shape else
            lax.broadcast_in_dim(x, shape, tuple(range(len(shape) - np.ndim(x), len(shape)))) for x in xs]


def lax_fn(name: str) -> Callable:
    """The lowering `jax.lax.<name>(*operands, **params)` (looked up when first used)."""
    def lower(*xs, **params):
        return getattr(lax, name)(*xs, **params)
    lower.__name__ = f"lower_{name}"
    return lower


def lax_op(name: str) -> Callable:
    """The lowering of an elementwise operation: its operands broadcast numpy-style, then `jax.lax.<name>`."""
    def lower(*xs, **params):
        return getattr(lax, name)(*broadcast_all(*xs), **params)
    lower.__name__ = f"lower_{name}"
    return lower


def fmt_shapes(avals) -> str:
    """`(3, 4) and (5, 2)`: operand shapes as the user wrote them."""
    shapes = [str(tuple(a.shape)) for a in avals]
    return shapes[0] if len(shapes) == 1 else ", ".join(shapes[:-1]) + " and " + shapes[-1]


def broadcast_shapes(name: str, *avals: ShapedArray) -> tuple:
    """Numpy broadcasting of the operands' shapes, or a ShapeError naming the operation and shapes."""
    first = avals[0].shape
    for a in avals[1:]:
        if a.shape != first:
            break
    else:
        return first
    ndim = max(len(a.shape) for a in avals)
    out = [1] * ndim
    for a in avals:
        off = ndim - len(a.shape)
        for i, d in enumerate(a.shape):
            o = out[off + i]
            if o == 1:
                out[off + i] = d
            elif d != 1 and d != o:
                raise ShapeError(
                    f"{name}: operand shapes {fmt_shapes(avals)} cannot be broadcast together",
                    "Make the shapes agree: reshape or transpose an operand, or give it length-1 axes "
                    "(x[:, None]) so numpy broadcasting lines the axes up.")
    return tuple(out)


def same_dtype(name: str, *avals: ShapedArray) -> np.dtype:
    """The common dtype of the operands, or a DTypeError naming the operation and dtypes."""
    dt = avals[0].dtype
    for a in avals[1:]:
        if a.dtype != dt:
            raise DTypeError(
                f"{name}: operand dtypes {', '.join(a.dtype.name for a in avals)} differ "
                f"(shapes {fmt_shapes(avals)})",
                "Cast one operand with .astype(...) so both have the same dtype.")
    return dt


def require_float(name: str, aval: ShapedArray) -> None:
    """A DTypeError if the operation needs a floating-point operand and got another."""
    if aval.dtype.kind != "f":
        raise DTypeError(f"{name}: needs a floating-point operand, got {aval.dtype.name} {aval.shape}",
                         "Cast it with .astype(np.float32) or .astype(np.float64).")


def check_axes(name: str, aval: ShapedArray, axes: Sequence[int]) -> None:
    """A ShapeError if an axis is out of range for the operand."""
    for ax in axes:
        if not 0 <= ax < len(aval.shape):
            raise ShapeError(f"{name}: axis {ax} is out of range for an operand of shape {aval.shape}",
                             f"Use an axis between {-len(aval.shape)} and {len(aval.shape) - 1}.")


def scalar(v, like) -> np.ndarray:
    """A 0-d numpy array holding v in the dtype of `like` (a constant for rules and wrappers)."""
    return np.array(v, dtype=like.dtype)


def unit_rule(unit, commutative: bool = True, float_unit: float | None = None) -> Callable:
    """The "simplify" rule `x op unit -> x` (x * 1, x + 0, x - 0, x / 1) for a known constant operand equal
    to `unit` everywhere, when x already has the result's shape and dtype. `float_unit` is the unit for
    float dtypes when its sign matters: x + 0.0 is not x at x = -0.0, x + -0.0 is (`float_unit=-0.0`)."""
    neg_zero = float_unit is not None and float_unit == 0 and np.signbit(float_unit)

    def rule(eqn, ctx):
        x, y = eqn.invars
        out = eqn.outvars[0].aval
        for keep, other in ((x, y), (y, x)) if commutative else ((x, y),):
            v = ctx.value(other)
            if v is None or keep.aval != out:
                continue
            if float_unit is not None and out.dtype.kind == "f":
                if np.all(v == float_unit) and (float_unit != 0 or np.all(np.signbit(v) == neg_zero)):
                    return keep
            elif np.all(v == unit):
                return keep
        return None
    return rule


# ---------------------------------------------------------------------------------------------
# Example generators: `rules["example"](s) -> (operands, params)`, `s` a minigrad_fn.checks.Sampler, so that
# `p.bind(*operands, **params)` is valid (check_rules draws them). A value domain `values(s, shape)` keeps
# the derivatives smooth at the sample (log's operand positive, a denominator away from 0).

def uniform(low: float = -2.0, high: float = 2.0) -> Callable:
    """Example values: float64, uniform in [low, high)."""
    return lambda s, shape: s.floats(shape, low, high)


def nonzero(low: float = 0.5, high: float = 2.0) -> Callable:
    """Example values: float64 magnitudes uniform in [low, high) with random signs (denominators, abs)."""
    return lambda s, shape: np.asarray(np.where(s.rng.random(shape) < 0.5, -1.0, 1.0) * s.floats(shape, low, high))


def bool_values(s, shape) -> np.ndarray:
    """Example values: bool, each True with probability 1/2."""
    return np.asarray(s.rng.random(shape) < 0.5)


def array_example(params: Callable | None = None, values: Callable = uniform(), min_dims: int = 0,
                  max_side: int = 4) -> Callable:
    """An example generator: one operand x of a drawn shape (min_dims to 3 axes) from `values`, and the
    parameters `params(s, x)` (none when None)."""
    def example(s):
        x = values(s, s.shape(min_dims, max_side=max_side))
        return [x], {} if params is None else params(s, x)
    return example


def broadcast_example(*values: Callable) -> Callable:
    """An example generator: one operand per value domain, of numpy-broadcastable shapes (one has the drawn
    shape, the others shapes broadcastable to it)."""
    def example(s):
        shape, full = s.shape(), s.integers(0, len(values))
        return [v(s, shape if i == full else s.broadcastable(shape)) for i, v in enumerate(values)], {}
    return example
