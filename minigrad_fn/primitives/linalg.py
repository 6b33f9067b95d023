"""dot_general: contraction over given axes with batch axes, lax-style.

`dimension_numbers = ((x_contract, y_contract), (x_batch, y_batch))`; the output axes are the batch axes,
then x's free axes, then y's free axes.
"""
from __future__ import annotations

import numpy as np

from tracing import ShapedArray, ShapeError

from ._base import Display, lax_fn, later_family, primitive, same_dtype, show_nothing
from . import shape as S

E = later_family("elementwise")  # the JVP adds its two contributions

__all__ = ["dot_general", "dot_general_p"]


def _free(ndim, contract, batch):
    return tuple(i for i in range(ndim) if i not in contract and i not in batch)


def _dot_rule(x, y, *, dimension_numbers):
    (xc, yc), (xb, yb) = dimension_numbers
    same_dtype("dot_general", x, y)
    bad = (len(xc) != len(yc) or len(xb) != len(yb) or any(not 0 <= i < len(x.shape) for i in xc + xb)
           or any(not 0 <= i < len(y.shape) for i in yc + yb))
    if not bad:
        bad = any(x.shape[i] != y.shape[j] for i, j in zip(xc + xb, yc + yb))
    if bad:
        raise ShapeError(f"dot_general: shapes {x.shape} and {y.shape} do not fit contracting axes "
                         f"{xc} and {yc} with batch axes {xb} and {yb}",
                         "The contracted axes must have equal lengths "
                         "(for x @ y: x.shape[-1] == y.shape[-2]); transpose or reshape an operand.")
    shape = tuple(x.shape[i] for i in xb) + tuple(x.shape[i] for i in _free(len(x.shape), xc, xb)) \
        + tuple(y.shape[i] for i in _free(len(y.shape), yc, yb))
    return ShapedArray(shape, x.dtype)


_FAST_2D = {((1,), (0,)): lambda x, y: x @ y, ((0,), (0,)): lambda x, y: x.T @ y,
            ((1,), (1,)): lambda x, y: x @ y.T, ((0,), (1,)): lambda x, y: x.T @ y.T}


def _dot_impl(x, y, *, dimension_numbers):
    (xc, yc), (xb, yb) = dimension_numbers
    if not xb and x.ndim == 2 and y.ndim == 2 and len(xc) == 1:
        return _FAST_2D[(xc, yc)](x, y)
    xf, yf = _free(x.ndim, xc, xb), _free(y.ndim, yc, yb)
    bshape = tuple(x.shape[i] for i in xb)
    xfs, yfs = tuple(x.shape[i] for i in xf), tuple(y.shape[i] for i in yf)
    b, m, n = (int(np.prod(s, dtype=np.int64)) for s in (bshape, xfs, yfs))
    k = int(np.prod([x.shape[i] for i in xc], dtype=np.int64))
    x3 = np.transpose(x, xb + xf + xc).reshape(b, m, k)
    y3 = np.transpose(y, yb + yc + yf).reshape(b, k, n)
    return np.matmul(x3, y3).reshape(bshape + xfs + yfs)


def _dot_vjp_lhs(g, y, x_ndim, dimension_numbers, swap_ans=False):
    # Contract the cotangent with y over y's free axes, then put the axes back in x's order.
    (xc, yc), (xb, yb) = dimension_numbers
    x_kept = _free(x_ndim, xc, xb)
    y_kept = _free(y.ndim, yc, yb)
    nb, nxk, nyk = len(xb), len(x_kept), len(y_kept)
    ans_batch = tuple(range(nb))
    ans_y = tuple(range(nb, nb + nyk)) if swap_ans else tuple(range(nb + nxk, nb + nxk + nyk))
    # the product's axes: batch, x's kept axes (from g), then x's contracted axes in y's axis order
    src = xb + x_kept + tuple(xc[i] for i in sorted(range(len(yc)), key=yc.__getitem__))
    out_axes = [0] * len(src)
    for i, a in enumerate(src):
        out_axes[a] = i
    # The same product with the operands swapped gives (batch, y part, g part); prefer it when it needs no
    # transpose (x.T @ g instead of (g.T @ x).T: same flops, but BLAS is faster and the result contiguous).
    swapped = [j if j < nb else j + len(xc) if j < nb + nxk else j - nxk for j in out_axes]
    if swapped == list(range(len(swapped))) and out_axes != swapped:
        return dot_general_p.bind(y, g, dimension_numbers=((y_kept, ans_y), (yb, ans_batch)))
    return S.transpose(dot_general_p.bind(g, y, dimension_numbers=((ans_y, y_kept), (ans_batch, yb))),
                       tuple(out_axes))


def _dot_vjp_x(g, ans, x, y, *, dimension_numbers):
    return _dot_vjp_lhs(g, y, x.ndim, dimension_numbers)


def _dot_vjp_y(g, ans, x, y, *, dimension_numbers):
    (xc, yc), (xb, yb) = dimension_numbers
    return _dot_vjp_lhs(g, x, y.ndim, ((yc, xc), (yb, xb)), swap_ans=True)


dot_general_p = primitive("dot_general", _dot_rule, _dot_impl, [_dot_vjp_x, _dot_vjp_y],
                          lax_fn("dot_general"), reads=(0, 1), display=Display("dot", show_nothing,
                                                        local="the other operand, transposed",
                                                        formula=("upstream y^T", "x^T upstream")))


def _fold_transposes(eqn, ctx):
    """dot_general of a transposed operand contracts the original's axes instead, when the transpose does
    not reorder the operand's free axes (which would reorder the result's)."""
    (xc, yc), (xb, yb) = eqn.params["dimension_numbers"]
    ops, dims, changed = list(eqn.invars), [[xc, xb], [yc, yb]], False
    for k in (0, 1):
        p = ctx.producer(ops[k])
        if p is None or p.prim is not S.transpose_p:
            continue
        perm = p.params["permutation"]
        c, b = dims[k]
        free = [perm[i] for i in _free(len(perm), c, b)]
        if free == sorted(free):
            ops[k] = p.invars[0]
            dims[k] = [tuple(perm[i] for i in c), tuple(perm[i] for i in b)]
            changed = True
    if not changed:
        return None
    dn = ((dims[0][0], dims[1][0]), (dims[0][1], dims[1][1]))
    return eqn.replace(invars=ops, params={"dimension_numbers": dn})


dot_general_p.rules["simplify"] = _fold_transposes


def _dot_jvp(primals, tangents, *, dimension_numbers):
    # bilinear: d(x . y) = dx . y + x . dy (a symbolic zero contributes nothing)
    (x, y), (tx, ty) = primals, tangents
    out = dot_general_p.bind(x, y, dimension_numbers=dimension_numbers)
    t = None if tx is None else dot_general_p.bind(tx, y, dimension_numbers=dimension_numbers)
    if ty is not None:
        ty = dot_general_p.bind(x, ty, dimension_numbers=dimension_numbers)
        t = ty if t is None else E.add(t, ty)
    return [out], [t]


def _bump(axes, d):
    """Per-example axes renumbered for an operand whose batch axis is d."""
    return tuple(a + (a >= d) for a in axes)


def _dot_batch(args, dims, *, dimension_numbers):
    (x, y), (dx, dy) = args, dims
    (xc, yc), (xb, yb) = dimension_numbers
    if dx is not None and dy is not None:
        # both batched: the batch axes, where they are, become a new leading pair of batch axes (no
        # transpose: dot_general takes its batch axes anywhere, and puts them first in the output)
        dn = ((_bump(xc, dx), _bump(yc, dy)), ((dx,) + _bump(xb, dx), (dy,) + _bump(yb, dy)))
        return [dot_general_p.bind(x, y, dimension_numbers=dn)], [0]
    # one batched: its batch axis is one more free axis of that operand, which lands in the output after
    # the batch axes and (for y) x's free axes, at its rank among the operand's free axes
    if dx is not None:
        xc, xb = _bump(xc, dx), _bump(xb, dx)
        out_d = len(xb) + sum(1 for a in _free(x.ndim, xc, xb) if a < dx)
    else:
        yc, yb = _bump(yc, dy), _bump(yb, dy)
        out_d = len(xb) + len(_free(x.ndim, xc, xb)) + sum(1 for a in _free(y.ndim, yc, yb) if a < dy)
    return [dot_general_p.bind(x, y, dimension_numbers=((xc, yc), (xb, yb)))], [out_d]


dot_general_p.rules["jvp"] = _dot_jvp
dot_general_p.rules["batch"] = _dot_batch


def _dot_example(s):
    # batch, contracting and free axes (at most 4 in all) at drawn positions in each operand
    nb, nc = s.integers(0, 3), s.integers(0, 3)
    b, c = [s.integers(1, 4) for _ in range(nb)], [s.integers(1, 4) for _ in range(nc)]

    def place():
        sides = b + c + [s.integers(1, 4) for _ in range(s.integers(0, 5 - max(2, nb + nc)))]
        pos = s.permutation(len(sides))
        shape = [0] * len(sides)
        for side, p in zip(sides, pos):
            shape[p] = side
        return s.floats(tuple(shape)), pos[:nb], pos[nb:nb + nc]
    (x, xb, xc), (y, yb, yc) = place(), place()
    return [x, y], {"dimension_numbers": ((xc, yc), (xb, yb))}


dot_general_p.rules["example"] = _dot_example


def dot_general(x, y, dimension_numbers):
    (xc, yc), (xb, yb) = dimension_numbers
    dn = ((tuple(int(i) for i in xc), tuple(int(i) for i in yc)),
          (tuple(int(i) for i in xb), tuple(int(i) for i in yb)))
    return dot_general_p.bind(x, y, dimension_numbers=dn)
