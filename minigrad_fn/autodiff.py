"""The VJP transform, and grad / value_and_grad / vjp on top of it.

`vjp` traces the function with value-carrying tracers (so Python control flow on values works), which
records the forward equations while the parent level computes their values. The backward pass then walks
those equations in reverse and asks each primitive's VJP rule for its operands' cotangents. The rules are
written with the primitive wrappers, so they bind in whatever trace is current: at the top level they
compute numbers, under an enclosing grad or make_jaxpr they are recorded as IR (grad of grad works).
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import optree

from tracing import (ArgumentError, MinigradError, Tracer, Var, aval_of, check_args, check_leaves, leaf_names,
                     new_trace, tree_flatten, tree_unflatten)

from .primitives import add


class GradTypeError(MinigradError, TypeError):
    """grad was asked for something it cannot differentiate (integer inputs, non-scalar outputs)."""


def _is_float(aval) -> bool:
    return aval.dtype.kind == "f"


def backward_pass(eqns: Sequence, env: dict, seed: dict, active: set, free_values: bool = False) -> dict:
    """Cotangents of the active variables, given cotangents `seed` of some outputs (symbolic zeros absent).

    `env` maps every variable to its (parent-level) value; `active` holds the float variables that depend
    on the differentiated inputs: only they receive cotangents. With `free_values`, each equation's
    outputs are deleted from `env` once it has been handled (every reader of a value comes after its
    producer, so walking backwards nothing needs it again): the forward values are released as the
    gradients grow, not at the end.
    """
    cts = dict(seed)
    for eqn in reversed(eqns):
        outvars = eqn.outvars
        prim = eqn.prim
        # a value grad did not keep (the rule reads only its shape and dtype) is passed as its aval
        if prim.multiple_results:
            g = [cts.pop(v, None) for v in outvars]
            ans = [env.get(v, v.aval) for v in outvars] if any(c is not None for c in g) else None
        else:
            g = cts.pop(outvars[0], None)
            ans = env.get(outvars[0], outvars[0].aval) if g is not None else None
        if free_values:
            for v in outvars:
                env.pop(v, None)
        if ans is None:
            continue
        rules = prim.rules.get("vjp")
        if not rules:
            continue
        invars = eqn.invars
        ins = [env.get(v, v.aval) if type(v) is Var else v.val for v in invars]
        params = eqn.params
        if callable(rules):
            wanted = [type(v) is Var and v in active for v in invars]
            results = rules(g if prim.multiple_results else [g], ans, ins, params, wanted)
            pairs = [(v, c) for v, c, w in zip(invars, results, wanted) if w and c is not None]
        else:
            pairs = []
            for v, rule in zip(invars, rules):
                if rule is not None and type(v) is Var and v in active:
                    c = rule(g, ans, *ins, **params)
                    if c is not None:
                        pairs.append((v, c))
        for v, c in pairs:
            prev = cts.get(v)
            cts[v] = c if prev is None else add(prev, c)  # gradients add at branches
    return cts


def _active_vars(eqns: Sequence, inputs: Sequence[Var]) -> set:
    active = {v for v in inputs if _is_float(v.aval)}
    for eqn in eqns:
        for v in eqn.invars:
            if type(v) is Var and v in active:
                active.update(o for o in eqn.outvars if _is_float(o.aval))
                break
    return active


def _vjp_reads(prim):
    """The values of an equation that its VJP rules compute with (None: all): what grad keeps."""
    return prim.rules.get("vjp_reads")


def _zeros(aval):
    return np.zeros(aval.shape, aval.dtype)


def _to_user(g, aval):
    """A gradient leaf as the user gets it: a writable numpy array in the argument's dtype."""
    if isinstance(g, Tracer):
        return g
    g = np.asarray(g, dtype=aval.dtype)
    return g if g.flags.writeable else g.copy()


def _vjp(fun: Callable, primals: Sequence, has_aux: bool, what: str, once: bool = False):
    check_args(fun, primals, what)
    leaves, tree = tree_flatten(tuple(primals))
    leaves = [x if isinstance(x, Tracer) else np.asarray(x) for x in leaves]
    with new_trace(with_values=True, keep=_vjp_reads) as trace:
        tracers = [trace.new_arg(aval_of(x), x) for x in leaves]
        out = fun(*tree_unflatten(tree, tracers))
        aux = None
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise ArgumentError(f"{what}: with has_aux=True the function must return a pair (output, aux), "
                                    f"got {type(out).__name__}")
            out, aux = out
        out_leaves, out_tree = tree_flatten(out)
        check_leaves(out_leaves, f"{what}: output")
    out_vals = [trace.value_of(o) for o in out_leaves]
    out_vars = [o._var if isinstance(o, Tracer) and o._trace is trace else None for o in out_leaves]
    if aux is not None:
        aux = optree.tree_map(trace.value_of, aux, none_is_leaf=False)
    eqns, env, invars = trace.eqns, trace.env, trace.invars
    del trace  # the closure keeps only what the backward pass needs
    calls = []

    def vjp_fn(ct):
        if once and calls:
            raise ArgumentError(f"{what}: this VJP function frees the forward values as it runs; call it once")
        calls.append(1)
        ct_leaves, ct_tree = tree_flatten(ct)
        if ct_tree != out_tree:
            raise ArgumentError(f"vjp_fn: the cotangent's structure {ct_tree} differs from the output's {out_tree}")
        seed: dict = {}
        for var, c, o in zip(out_vars, ct_leaves, out_vals):
            if np.shape(c) != np.shape(o):
                raise ArgumentError(f"vjp_fn: cotangent of shape {np.shape(c)} for an output of shape {np.shape(o)}")
            if var is not None and _is_float(var.aval):
                c = c if isinstance(c, Tracer) else np.asarray(c, dtype=var.aval.dtype)
                seed[var] = c if var not in seed else add(seed[var], c)
        cts = backward_pass(eqns, env, seed, _active_vars(eqns, invars), free_values=once)
        grads = [cts.get(v) for v in invars]
        grads = [_zeros(v.aval) if g is None else _to_user(g, v.aval) for g, v in zip(grads, invars)]
        return tree_unflatten(tree, grads)

    out = tree_unflatten(out_tree, out_vals)
    return out, vjp_fn, aux


def vjp(fun: Callable, *primals, has_aux: bool = False):
    """`(out, vjp_fn)` (plus aux with has_aux): vjp_fn maps a cotangent of out to cotangents of primals."""
    out, vjp_fn, aux = _vjp(fun, primals, has_aux, f"vjp({_name(fun)})")
    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


def _name(fun) -> str:
    return getattr(fun, "__name__", type(fun).__name__)


def _check_differentiable(fun, args, argnums, what):
    check_args(fun, args, what, argnums)
    for i in argnums:
        for j, x in enumerate(tree_flatten(args[i])[0]):
            dt = aval_of(x).dtype
            if dt.kind != "f":
                raise GradTypeError(
                    f"{what}: {leaf_names(fun, args, [i])[j]} (argnums={i}) has dtype {dt.name}; "
                    "only floating-point inputs can be differentiated",
                    "Cast it, e.g. x.astype(np.float64) or a float literal (2.0, not 2), or leave it out "
                    "of argnums if it is data.")


def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """A function returning `(fun(*args), gradient of fun w.r.t. args[argnums])`; with has_aux,
    `((value, aux), gradient)`."""
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    what = f"grad({_name(fun)})"

    def value_and_grad_fun(*args, **kwargs):
        for i in nums:
            if not -len(args) <= i < len(args):
                raise ArgumentError(f"{what}: argnums={argnums} but the function got {len(args)} positional arguments")
        idx = [i % len(args) for i in nums]
        _check_differentiable(fun, args, idx, what)

        def partial(*dyn):
            full = list(args)
            for i, d in zip(idx, dyn):
                full[i] = d
            return fun(*full, **kwargs)

        out, vjp_fn, aux = _vjp(partial, [args[i] for i in idx], has_aux, what, once=True)
        aval = aval_of(out) if not isinstance(out, (tuple, list, dict)) and out is not None else None
        if aval is None or aval.shape != () or aval.dtype.kind != "f":
            desc = f"shape {aval.shape} and dtype {aval.dtype.name}" if aval is not None else f"a {type(out).__name__}"
            raise GradTypeError(
                f"{what}: grad needs a function returning a float scalar, but it returned {desc}",
                "Reduce the output to a scalar (mnp.sum(...) or .mean()), or use vjp(f, x) with a cotangent "
                "of the output's shape for vector outputs.")
        grads = vjp_fn(np.ones((), aval.dtype))
        grads = grads[0] if single else tuple(grads)
        return ((out, aux), grads) if has_aux else (out, grads)

    value_and_grad_fun.__name__ = f"value_and_grad({_name(fun)})"
    value_and_grad_fun.__wrapped__ = fun
    return value_and_grad_fun


def grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The gradient function of a scalar-valued `fun` with respect to the arguments in argnums."""
    vg = value_and_grad(fun, argnums, has_aux)

    def grad_fun(*args, **kwargs):
        value, g = vg(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    grad_fun.__name__ = f"grad({_name(fun)})"
    grad_fun.__wrapped__ = fun
    return grad_fun
