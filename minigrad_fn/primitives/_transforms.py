"""The JVP and batching rules that families of primitives share (as JAX's deflinear, defvectorized,
defbroadcasting and defreducer), so that each primitive's block names its rules in a word.

Conventions (the two traces in minigrad_fn/forward.py and minigrad_fn/batching.py call these):

- `rules["jvp"](primals, tangents, **params) -> (outs, out_tangents)`: lists, one entry per output; a
  tangent None is a symbolic zero (in and out). Rules compute with the primitive wrappers on parent-level
  values, so they work at the top level and under any enclosing trace.
- `rules["batch"](args, dims, **params) -> (outs, out_dims)`: `dims[i]` is the batch axis of args[i]
  (None: not batched, the same for every example); at least one operand is batched. Rules compute the
  whole batch with primitives (never a loop over examples) and move as few axes as they can.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from tracing import Tracer, aval_of

from ._base import later_family

S = later_family("shape")        # transpose, reshape, broadcast_in_dim (shape imports this module)
E = later_family("elementwise")  # add, for the sum of a JVP's contributions


def _ndim(x) -> int:
    return x.ndim if isinstance(x, Tracer) else np.ndim(x)


def _shape(x) -> tuple:
    return tuple(x.shape) if isinstance(x, Tracer) else np.shape(x)


# ---------------------------------------------------------------------------------------------
# JVP rules

def zeros_like(x):
    """A zero tangent materialised (a broadcast of 0, never a full array at trace time)."""
    a = aval_of(x)
    return S.broadcast_in_dim(np.zeros((), a.dtype), a.shape, ())


def instantiate(t, primal):
    """The tangent t, or zeros of primal's shape and dtype when t is a symbolic zero."""
    return zeros_like(primal) if t is None else t


def linear_jvp(prim, linear: Sequence[int] | None = None) -> Callable:
    """The JVP of a primitive linear in the operands at positions `linear` (all by default) jointly, and
    constant in the others (indices, predicates): the primitive applied to the tangents."""
    def jvp(primals, tangents, **params):
        out = prim.bind(*primals, **params)
        outs = out if prim.multiple_results else [out]
        pos = range(len(primals)) if linear is None else linear
        if all(tangents[i] is None for i in pos):
            return outs, [None] * len(outs)
        ts = [instantiate(t, p) if i in pos else p for i, (p, t) in enumerate(zip(primals, tangents))]
        tout = prim.bind(*ts, **params)
        return outs, (tout if prim.multiple_results else [tout])
    return jvp


def local_jvp(prim, rules: Sequence) -> Callable:
    """The JVP of an elementwise primitive (a diagonal Jacobian) from one rule per operand,
    `rule(t, ans, *operands, **params) -> t times d(ans)/d(operand)` (the same local rule the VJP uses
    before it undoes broadcasting); the contributions are broadcast to the result's shape and added."""
    def jvp(primals, tangents, **params):
        ans = prim.bind(*primals, **params)
        shape = _shape(ans)
        total = None
        for rule, p, t in zip(rules, primals, tangents):
            if t is None or rule is None:
                continue
            c = rule(t, ans, *primals, **params)
            if c is None:
                continue
            if _shape(c) != shape:
                c = S.broadcast_in_dim(c, shape, tuple(range(len(shape) - _ndim(c), len(shape))))
            total = c if total is None else E.add(total, c)
        return [ans], [total]
    jvp.rules = rules  # where the derivative is written (reports name it)
    return jvp


def zero_jvp(prim) -> Callable:
    """The JVP of a primitive whose outputs carry no tangent (comparisons, argmax, sign, floor...)."""
    def jvp(primals, tangents, **params):
        out = prim.bind(*primals, **params)
        outs = out if prim.multiple_results else [out]
        return outs, [None] * len(outs)
    return jvp


# ---------------------------------------------------------------------------------------------
# Batching rules

def moveaxis(x, src: int, dst: int):
    """x with axis src moved to position dst (one transpose; nothing when they are equal)."""
    if src == dst:
        return x
    perm = [i for i in range(_ndim(x)) if i != src]
    perm.insert(dst, src)
    return S.transpose(x, perm)


def batch_size(args, dims) -> int:
    """The length of the batch axis (from any batched operand)."""
    for a, d in zip(args, dims):
        if d is not None:
            return _shape(a)[d]
    raise ValueError("no operand is batched")


def broadcast_batch(x, size: int, axis: int = 0):
    """An unbatched x repeated `size` times along a new axis `axis` (a broadcast)."""
    if not isinstance(x, Tracer) and not hasattr(x, "shape"):
        x = np.asarray(x)  # a Python number
    shape = _shape(x)
    out = shape[:axis] + (size,) + shape[axis:]
    return S.broadcast_in_dim(x, out, tuple(i for i in range(len(out)) if i != axis))


def bdim_at_front(x, d, size: int):
    """x with its batch axis first; an unbatched x (d None) is broadcast to the batch."""
    return broadcast_batch(x, size, 0) if d is None else moveaxis(x, d, 0)


def broadcasting_batch(prim) -> Callable:
    """The batching rule of an n-ary elementwise primitive that broadcasts numpy-style: when the batched
    operands agree on the batch axis and rank (and unbatched ones line up with axes after it), the
    primitive applies as it is; otherwise each batched operand's batch axis goes first, with length-1 axes
    so the per-example axes still line up from the right. Unbatched operands are never copied."""
    def rule(args, dims, **params):
        if len(args) == 1:  # one operand: the batch axis stays where it is
            return [prim.bind(args[0], **params)], [dims[0]]
        if len(args) == 2:  # the common cases, decided without building lists
            (a, b), (da, db) = args, dims
            if (da == db and _ndim(a) == _ndim(b)) or (db is None and _ndim(b) == 0):
                return [prim.bind(a, b, **params)], [da]
            if da is None and _ndim(a) == 0:
                return [prim.bind(a, b, **params)], [db]
        ranks = [_ndim(a) - (d is not None) for a, d in zip(args, dims)]
        rank = max(ranks)
        batched = [(d, r) for d, r in zip(dims, ranks) if d is not None]
        d0 = batched[0][0]
        same = all(d == d0 and r == rank for d, r in batched)
        # unbatched operands line up with the last axes of the result: fine when those are all after d0
        if same and all(d is not None or r <= rank - d0 for d, r in zip(dims, ranks)):
            out = prim.bind(*args, **params)
            return [out], [d0]
        new = []
        for a, d, r in zip(args, dims, ranks):
            if d is None:
                new.append(a)
                continue
            a = moveaxis(a, d, 0)
            if r < rank:
                shape = _shape(a)
                a = S.reshape(a, shape[:1] + (1,) * (rank - r) + shape[1:])
            new.append(a)
        return [prim.bind(*new, **params)], [0]
    return rule


def reducer_batch(prim, param: str = "axes") -> Callable:
    """The batching rule of a one-operand primitive whose `param` names operand axes (reductions by
    `axes`, argmax and cumsum by `axis`): the axes are renumbered around the batch axis, which stays
    where it is (less the reduced axes before it)."""
    def rule(args, dims, **params):
        (x,), (d,) = args, dims
        axes = params[param]
        many = isinstance(axes, tuple)
        per = axes if many else (axes,)
        shifted = tuple(a + (a >= d) for a in per)
        params = dict(params, **{param: shifted if many else shifted[0]})
        out = prim.bind(x, **params)
        out_d = d - sum(1 for a in shifted if a < d) if _ndim(out) < _ndim(x) else d
        return [out], [out_d]
    return rule
