"""Products with numpy's semantics, all lowered to the one dot_general primitive."""
from __future__ import annotations

import numpy as np

from tracing import ShapeError

from .. import primitives as P
from ._core import UnsupportedError, as_array, cast_all, no_out, result_dtype
from ._shape import broadcast_to, ravel, reshape, transpose
from ._ufuncs import multiply


def _operands(name, a, b):
    dt = result_dtype(np.multiply, a, b)
    if dt == np.dtype(bool):
        dt = np.dtype(bool)
    return cast_all((a, b), dt)


def _mismatch(name, a, b, hint):
    return ShapeError(f"{name}: shapes {a.shape} and {b.shape} are not aligned", hint)


def dot(a, b, out=None):
    """numpy.dot: inner product of vectors, matrix product, or sum over a's last and b's second-to-last axis."""
    no_out("dot", out)
    a, b = _operands("dot", a, b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    bc = 0 if b.ndim == 1 else b.ndim - 2
    if a.shape[-1] != b.shape[bc]:
        raise _mismatch("dot", a, b, f"a.shape[-1] ({a.shape[-1]}) must equal b.shape[{bc}] ({b.shape[bc]}); "
                        "transpose an operand (x.T) if the axes are the other way round.")
    return P.dot_general(a, b, (((a.ndim - 1,), (bc,)), ((), ())))


def matmul(x1, x2, /, out=None, **kw):
    """numpy.matmul (the @ operator): batched matrix product, broadcasting the batch axes."""
    no_out("matmul", out)
    a, b = _operands("matmul", x1, x2)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: operands must not be scalars, got shapes {a.shape} and {b.shape}",
                         "Use * for scalar multiplication.")
    va, vb = a.ndim == 1, b.ndim == 1
    if va:
        a = reshape(a, (1,) + a.shape)
    if vb:
        b = reshape(b, b.shape + (1,))
    if a.shape[-1] != b.shape[-2]:
        raise ShapeError(f"matmul: shapes {tuple(x1.shape) if hasattr(x1, 'shape') else np.shape(x1)} and "
                         f"{tuple(x2.shape) if hasattr(x2, 'shape') else np.shape(x2)} are not aligned: "
                         f"{a.shape[-1]} (last axis of the first) != {b.shape[-2]} (second-to-last of the second)",
                         "Transpose an operand (x.T) or reshape it so the contracted lengths agree.")
    try:
        batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ShapeError(f"matmul: batch axes of shapes {a.shape} and {b.shape} cannot be broadcast together",
                         "The leading (batch) axes broadcast as in numpy: equal lengths, or 1.") from None
    nb = len(batch)
    if nb:
        a = broadcast_to(a, batch + a.shape[-2:])
        b = broadcast_to(b, batch + b.shape[-2:])
    r = P.dot_general(a, b, (((nb + 1,), (nb,)), (tuple(range(nb)), tuple(range(nb)))))
    if va and vb:
        return reshape(r, r.shape[:-2])
    if va:
        return reshape(r, r.shape[:-2] + r.shape[-1:])
    if vb:
        return reshape(r, r.shape[:-1])
    return r


def vdot(a, b, /):
    """numpy.vdot for real arrays: the dot product of the flattened operands."""
    a, b = _operands("vdot", a, b)
    if a.size != b.size:
        raise _mismatch("vdot", a, b, "Both operands must have the same number of elements.")
    return P.dot_general(ravel(a), ravel(b), (((0,), (0,)), ((), ())))


def inner(a, b, /):
    """numpy.inner: sum product over the last axes."""
    a, b = _operands("inner", a, b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    if a.shape[-1] != b.shape[-1]:
        raise _mismatch("inner", a, b, "The last axes must have the same length.")
    return P.dot_general(a, b, (((a.ndim - 1,), (b.ndim - 1,)), ((), ())))


def outer(a, b, out=None):
    """numpy.outer: every element of a times every element of b."""
    no_out("outer", out)
    a, b = _operands("outer", a, b)
    return multiply(reshape(a, (-1, 1)), reshape(b, (1, -1)))


def tensordot(a, b, axes=2):
    """numpy.tensordot: sum products over the given axes."""
    a, b = _operands("tensordot", a, b)
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        ax_a, ax_b = tuple(range(a.ndim - n, a.ndim)), tuple(range(n))
    else:
        ax_a, ax_b = axes
        ax_a = (ax_a,) if isinstance(ax_a, (int, np.integer)) else tuple(ax_a)
        ax_b = (ax_b,) if isinstance(ax_b, (int, np.integer)) else tuple(ax_b)
    ax_a = tuple(int(i) % a.ndim for i in ax_a)
    ax_b = tuple(int(i) % b.ndim for i in ax_b)
    if len(ax_a) != len(ax_b) or any(a.shape[i] != b.shape[j] for i, j in zip(ax_a, ax_b)):
        raise _mismatch("tensordot", a, b, f"The summed axes {ax_a} and {ax_b} must have equal lengths.")
    return P.dot_general(a, b, ((ax_a, ax_b), ((), ())))


# ---- einsum --------------------------------------------------------------------------------------------
def _parse(subscripts: str, nops: int):
    s = subscripts.replace(" ", "")
    if "." in s:
        raise UnsupportedError(f"einsum: ellipsis ('...') in {subscripts!r} is not supported",
                               "Write every axis out with its own letter.")
    if "->" in s:
        ins, out = s.split("->")
    else:
        ins = s
        letters = ins.replace(",", "")
        out = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    ins = ins.split(",")
    if len(ins) != nops:
        raise ValueError(f"einsum: {subscripts!r} names {len(ins)} operands but {nops} were given")
    for c in out:
        if out.count(c) > 1 or c not in "".join(ins):
            raise ValueError(f"einsum: output index {c!r} in {subscripts!r} is repeated or names no input axis; "
                             "each output letter must appear once, and in some operand")
    return ins, out


def _sum_out(x, labels: str, keep: set):
    """Sum away the axes whose labels are not in keep; return the new array and labels."""
    axes = tuple(i for i, c in enumerate(labels) if c not in keep)
    if axes:
        x = P.reduce_sum(x, axes)
        labels = "".join(c for c in labels if c in keep)
    return x, labels


def _from_sublists(args) -> tuple[str, list]:
    """numpy.einsum's sublist form `einsum(a, [0, 1], b, [1, 2], [0, 2])` as a subscripts string."""
    args = list(args)
    out = args.pop() if len(args) % 2 == 1 else None
    ops, subs = args[0::2], args[1::2]
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def word(sub):
        if any(s is Ellipsis for s in sub):
            raise UnsupportedError("einsum: ellipsis (...) in the sublist form is not supported",
                                   "Give every axis its own integer.")
        return "".join(letters[int(i)] for i in sub)
    text = ",".join(word(sub) for sub in subs) + ("" if out is None else "->" + word(out))
    return text, ops


def einsum(subscripts, *operands, optimize=None):
    """numpy.einsum (subscripts string or sublist form) without ellipses or repeated letters within one
    operand, as pairwise dot_generals."""
    if not isinstance(subscripts, str):
        subscripts, operands = _from_sublists((subscripts,) + operands)
    ins, out = _parse(subscripts, len(operands))
    dt = result_dtype(np.multiply, *operands) if len(operands) == 2 else np.result_type(
        *[as_array(o).dtype for o in operands])
    ops = [as_array(o, dt) for o in operands]
    sizes: dict = {}
    for labels, x in zip(ins, ops):
        if len(set(labels)) != len(labels):
            raise UnsupportedError(f"einsum: repeated index in {labels!r} (diagonals) is not supported",
                                   "Take the diagonal by indexing first, e.g. x[np.arange(n), np.arange(n)].")
        if len(labels) != x.ndim:
            raise ShapeError(f"einsum: operand {labels!r} has {x.ndim} axes, shape {x.shape}",
                             "Give each operand exactly one letter per axis.")
        for c, d in zip(labels, x.shape):
            if sizes.setdefault(c, d) != d:
                raise ShapeError(f"einsum: index {c!r} has lengths {sizes[c]} and {d} in {subscripts!r} "
                                 f"(operand shapes {[o.shape for o in ops]})",
                                 "Every axis labelled with the same letter must have the same length; "
                                 "check the subscripts against the operand shapes.")
    pending = list(zip(ins, ops))
    # sum away letters that appear in only one operand and not in the output
    for i, (labels, x) in enumerate(pending):
        others = set(out) | {c for j, (lb, _) in enumerate(pending) if j != i for c in lb}
        x, labels = _sum_out(x, labels, others)
        pending[i] = (labels, x)
    la, a = pending[0]
    for k in range(1, len(pending)):
        lb, b = pending[k]
        rest = set(out) | {c for lbl, _ in pending[k + 1:] for c in lbl}
        batch = [c for c in la if c in lb and c in rest]
        contract = [c for c in la if c in lb and c not in rest]
        dn = ((tuple(la.index(c) for c in contract), tuple(lb.index(c) for c in contract)),
              (tuple(la.index(c) for c in batch), tuple(lb.index(c) for c in batch)))
        a = P.dot_general(a, b, dn)
        la = "".join(batch) + "".join(c for c in la if c not in batch and c not in contract) + \
            "".join(c for c in lb if c not in batch and c not in contract)
    a, la = _sum_out(a, la, set(out))
    return transpose(a, [la.index(c) for c in out]) if la != out else a
