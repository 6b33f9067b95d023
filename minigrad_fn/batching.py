"""Batching: the batching trace, and vmap on top of it.

A batch tracer carries a value and the axis of it that is the batch (None: the same for every example).
An operation on batch tracers is handed to the primitive's batching rule,
`rules["batch"](args, dims, **params) -> (outs, out_dims)`, which computes the whole batch at once with
the library's own primitives (never a loop over examples). An operation none of whose operands is
batched is handed to the parent trace untouched, so vmap nests with every other transformation.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence


from tracing import (ArgumentError, ShapedArray, Trace, Tracer, aval_of, check_args, check_leaves, current_trace,
                     entered, eval_jaxpr, leaf_names, name_scope, tree_flatten, tree_unflatten)
from tracing.core import _leaked, enter_parent, leave

from .primitives._transforms import bdim_at_front, broadcast_batch, moveaxis
from .autodiff import MissingRuleError, _name, memory_ids, owned, trace_body


class BatchTracer(Tracer):
    """A batch of values: `val` holds them all, with the batch along axis `bdim` (None: not batched)."""

    __slots__ = ("val", "bdim")

    def __init__(self, trace: "BatchTrace", val, bdim, aval: ShapedArray | None = None):
        self._trace = trace
        if aval is None:  # one example's type: val's without the batch axis
            a = val.aval if isinstance(val, Tracer) else aval_of(val)
            aval = a if bdim is None else ShapedArray(a.shape[:bdim] + a.shape[bdim + 1:], a.dtype)
        self.aval = aval
        self.val = val
        self.bdim = bdim

    def concrete_value(self):
        return self.val if self.bdim is None else None


class BatchTrace(Trace):
    """vmap: each operation on batched values by its primitive's batching rule."""

    __slots__ = ("axis_size",)
    why_abstract = "under vmap it has one value per example"

    def __init__(self, parent, axis_size: int):
        super().__init__(parent)
        self.axis_size = axis_size

    def lift(self, x, prim=None):
        if isinstance(x, Tracer) and not x._trace.alive:
            raise _leaked(x, prim)
        return BatchTracer(self, x, None)

    def process(self, prim, args, params, out_avals=None):
        vals, dims, batched = [], [], False
        for a in args:
            if isinstance(a, Tracer) and a._trace is self:
                vals.append(a.val)
                dims.append(a.bdim)
                batched = batched or a.bdim is not None
            else:
                vals.append(a)
                dims.append(None)
        if not batched:
            return self.parent.process(prim, vals, params, out_avals)
        rule = prim.rules.get("batch")
        if rule is None:
            raise MissingRuleError(f"{prim.name} has no batching rule, so vmap cannot batch it (operands "
                                   f"{', '.join(str(aval_of(v)) for v in vals)})",
                                   f"Give {prim.name} a batch rule beside its definition.")
        token = enter_parent(self)  # the rule binds on parent-level values: straight to the parent
        try:
            outs, out_dims = rule(vals, dims, **params)
        finally:
            leave(token)
        # one example's output types: the caller's shape rule may already have found them
        avals = out_avals if out_avals is not None else [None] * len(outs)
        return [o if d is None else BatchTracer(self, o, d, a) for o, d, a in zip(outs, out_dims, avals)]


def batch_flat(fun: Callable, args: list, dims: list, size: int) -> tuple[list, list]:
    """`fun(*args)` (a list of outputs) over a batch: args[i] batched along dims[i] (None: not batched);
    returns the outputs and their batch axes (None: the same for every example)."""
    with entered(BatchTrace(current_trace(), size)) as trace:
        outs = fun(*[a if d is None else BatchTracer(trace, a, d) for a, d in zip(args, dims)])
    mine = [isinstance(o, Tracer) and o._trace is trace for o in outs]
    return [o.val if m else o for o, m in zip(outs, mine)], [o.bdim if m else None for o, m in zip(outs, mine)]


def batch_body(jaxpr, dims: Sequence, size: int, force: Sequence[bool] = ()) -> tuple:
    """`(body, consts, out_dims)`: a body (no constvars) batched, its inputs batched along `dims` (None: not
    batched), each batched output with the batch first (out_dims 0, else None); an output marked in
    `force` is batched even where it is the same for every example. Cached on the jaxpr."""
    key = ("batch", tuple(dims), size, tuple(force))
    got = jaxpr.cache.get(key)
    if got is not None:
        return got
    forced = tuple(force) + (False,) * (len(jaxpr.outvars) - len(force))
    out_dims: list = []

    def fun(*xs):
        outs, odims = batch_flat(lambda *a: eval_jaxpr(jaxpr, [], a), list(xs), list(dims), size)
        outs = [bdim_at_front(o, d, size) if d is not None or f else o for o, d, f in zip(outs, odims, forced)]
        out_dims.extend(0 if d is not None or f else None for d, f in zip(odims, forced))
        return outs
    avals = [a if d is None else type(a)(a.shape[:d] + (size,) + a.shape[d:], a.dtype)
             for a, d in zip(jaxpr.in_avals, dims)]
    body, consts = trace_body(fun, avals)
    got = jaxpr.cache[key] = (body, consts, tuple(out_dims))
    return got


def _leaf_axes(spec, tree, what: str, arg: str) -> list:
    """One axis (or None) per leaf of `tree`, from `spec`: an int or None for all of them, or a container
    of the same kind as `tree` whose entries are specs of its entries (a pytree prefix)."""
    if spec is None or isinstance(spec, int):
        return [spec] * len(tree_flatten(tree)[0])
    if isinstance(spec, (tuple, list)) and isinstance(tree, (tuple, list)) and len(spec) == len(tree):
        return [a for s, t in zip(spec, tree) for a in _leaf_axes(s, t, what, arg)]
    if isinstance(spec, dict) and isinstance(tree, dict) and set(spec) == set(tree):
        return [a for k in sorted(tree) for a in _leaf_axes(spec[k], tree[k], what, arg)]
    raise ArgumentError(f"{what}: {arg} does not match the structure of its value: {spec!r} against a "
                        f"{type(tree).__name__}",
                        "Give an int or None for the whole value, or a container of the same kind and length.")


def vmap(fun: Callable, in_axes: Any = 0, out_axes: Any = 0, axis_size: int | None = None) -> Callable:
    """`fun` mapped over an axis of its arguments, as one batched computation (no loop over examples).

    `in_axes`: an int, None (not mapped) or a pytree prefix of the positional arguments (a tuple with one
    entry per argument); negative axes count from the end. `out_axes`: the same for the outputs. Keyword
    arguments are mapped over axis 0. `axis_size` is needed only when no argument is mapped.
    """
    what = f"vmap({_name(fun)})"

    def vmapped(*args, **kwargs):
        check_args(fun, args, what)
        if isinstance(in_axes, list):
            spec = tuple(in_axes)
        else:
            spec = in_axes
        if isinstance(spec, tuple) and len(spec) != len(args):
            raise ArgumentError(f"{what}: in_axes has {len(spec)} entries for {len(args)} positional arguments",
                                "Give one entry per positional argument (None for those not mapped).")
        axes = _leaf_axes(spec, tuple(args), what, "in_axes") if isinstance(spec, tuple) else \
            _leaf_axes(spec, tuple(args), what, "in_axes")
        leaves, tree = tree_flatten((tuple(args), kwargs))
        axes = axes + [0] * (len(leaves) - len(axes))  # keyword arguments: axis 0
        names = None
        size, sizes = axis_size, []
        norm = []
        for i, (x, ax) in enumerate(zip(leaves, axes)):
            if ax is None:
                norm.append(None)
                continue
            shape = aval_of(x).shape
            if not -len(shape) <= ax < len(shape):
                names = names or _names(fun, args, kwargs)
                raise ArgumentError(f"{what}: in_axes={ax} for {names[i]} of shape {shape}, which has no axis {ax}",
                                    "Name an axis the argument has, or None to leave it unmapped.")
            ax %= len(shape)
            norm.append(ax)
            sizes.append((i, shape[ax]))
        found = {n for _, n in sizes}
        if axis_size is not None:
            found.add(axis_size)
        if len(found) > 1:
            names = names or _names(fun, args, kwargs)
            listed = ", ".join(f"{names[i]} has size {n}" for i, n in sizes)
            extra = f" and axis_size={axis_size}" if axis_size is not None else ""
            raise ArgumentError(f"{what}: the mapped axes have different sizes: {listed}{extra}",
                                "Every mapped axis must have the same length.")
        if not found:
            raise ArgumentError(f"{what}: no argument is mapped (all in_axes are None)",
                                "Pass axis_size=... to say how many times to run it.")
        size = found.pop()
        with name_scope(what), entered(BatchTrace(current_trace(), size)) as trace:
            tracers = [x if ax is None else BatchTracer(trace, x, ax) for x, ax in zip(leaves, norm)]
            a, kw = tree_unflatten(tree, tracers)
            out = fun(*a, **kw)
            out_leaves, out_tree = tree_flatten(out)
            check_leaves(out_leaves, f"{what}: output")
            vals = [(o.val, o.bdim) if isinstance(o, Tracer) and o._trace is trace else (o, None)
                    for o in out_leaves]
        out_spec = _leaf_axes(out_axes, out, what, "out_axes") if isinstance(out_axes, (tuple, list, dict)) \
            else [out_axes] * len(out_leaves)
        results = []
        for (v, d), ax in zip(vals, out_spec):
            if ax is None:
                if d is not None:
                    each = tuple(n for i, n in enumerate(aval_of(v).shape) if i != d)
                    raise ArgumentError(f"{what}: out_axes=None for an output that varies over the batch (shape "
                                        f"{each} for each of the {size} examples)",
                                        "Map that output (out_axes=0), or return something the same for all.")
                results.append(v)
                continue
            ndim = len(aval_of(v).shape) + (1 if d is None else 0)
            if not -ndim <= ax < ndim:
                raise ArgumentError(f"{what}: out_axes={ax} for an output with {ndim} axes (batch included)")
            ax %= ndim
            results.append(broadcast_batch(v, size, ax) if d is None else moveaxis(v, d, ax))
        # owned by the caller: no view of an input, no result twice, nothing read-only (broadcasts)
        return tree_unflatten(out_tree, owned(results, memory_ids(leaves)))

    vmapped.__name__ = what
    return vmapped


def _names(fun, args, kwargs) -> list:
    return leaf_names(fun, args, kwargs=kwargs)


__all__ = ["BatchTrace", "BatchTracer", "vmap", "batch_flat"]
