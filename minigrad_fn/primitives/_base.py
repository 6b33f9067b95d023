"""Helpers shared by the primitive families: defining a primitive, shape-rule checks, constants."""
from __future__ import annotations

import importlib
from typing import Callable, Sequence

import numpy as np

from tracing import DTypeError, Primitive, ShapedArray, ShapeError


def primitive(name: str, shape_rule: Callable, impl: Callable, vjp: Sequence | Callable | None = None,
              lower: Callable | None = None, multiple_results: bool = False,
              reads: Sequence | None = None) -> Primitive:
    """Make a primitive with its shape rule, numpy implementation, VJP rule(s) and JAX lowering.

    `vjp` is a list with one rule per operand, `rule(g, ans, *operands, **params) -> cotangent`, where an
    entry None means no gradient flows to that operand (integer operands, piecewise-constant functions).
    A single callable `rule(cts, ans, operands, params, wanted) -> list` handles all operands at once.
    `lower(*operands, **params)` computes the same result with `jax.lax` on JAX values (for jit).
    `reads` names the values the VJP rules compute with (operand positions, "ans" for the result): grad
    keeps only those for the backward pass; the rules see the others' shapes and dtypes only. None
    (the default) keeps them all; rules that are all None read nothing.
    """
    p = Primitive(name, shape_rule, impl, multiple_results)
    p.rules["vjp"] = vjp
    if reads is not None:
        p.rules["vjp_reads"] = frozenset(reads)
    elif isinstance(vjp, (list, tuple)) and all(r is None for r in vjp):
        p.rules["vjp_reads"] = frozenset()
    if lower is not None:
        p.rules["lower"] = lower
    return p


class _LazyModule:
    """A module imported on first attribute access: lowering rules name `lax.add`, yet
    `import minigrad_fn` does not import JAX."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr):
        module = importlib.import_module(self._name)
        self.__dict__.update(vars(module))  # later lookups are plain attribute hits
        return getattr(module, attr)


lax = _LazyModule("jax.lax")
jnp = _LazyModule("jax.numpy")


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


def unit_rule(unit, commutative: bool = True) -> Callable:
    """The "simplify" rule `x op unit -> x` (x * 1, x + 0, x - 0, x / 1) for a known constant operand equal
    to `unit` everywhere, when x already has the result's shape and dtype."""
    def rule(eqn, ctx):
        x, y = eqn.invars
        out = eqn.outvars[0].aval
        for keep, other in ((x, y), (y, x)) if commutative else ((x, y),):
            v = ctx.value(other)
            if v is not None and keep.aval == out and np.all(v == unit):
                return keep
        return None
    return rule
