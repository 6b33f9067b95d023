"""Functions whose derivative their author gives, `custom_jvp` and `custom_vjp` (JAX's interface), and
`checkpoint` (alias `remat`), which trades compute for memory, with `saved_residuals` to see the trade.

Each is one primitive holding the function's body as `call` (so `make_jaxpr` and `jit` print one
equation holding the function; impl, lowering and shape rule run the body), plus:

- `custom_jvp_call`: `rule(primals, tangents) -> (outs, tangents_out)` (flat, Python). Its JVP is the rule;
  its VJP is the rule's transpose, taken as the VJP of the rule with respect to its tangents (it is linear
  in them); batching batches the body and the rule alike.
- `custom_vjp_call`: `fwd(primals) -> (outs, residuals)` and `bwd(residuals, cotangents) -> cotangents`
  (flat). Its VJP runs them; forward mode is refused, as in JAX.
- `checkpoint`: its VJP keeps the inputs (and what its policy saves) and recomputes the rest of the
  forward pass inside the backward pass.

The user's rules never see the constants a body closes over (they close over them themselves): the
first `num_consts` operands are for the body only.
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np

from tracing import (ArgumentError, Jaxpr, Primitive, Var, aval_of, check_leaves, dce, eval_jaxpr, name_scope,
                     new_trace, straight_line, tree_flatten, tree_unflatten)
from tracing.core import enter, leave

from .autodiff import MissingRuleError, _name, memory_ids, owned, trace_body, vjp, vjp_forward, vjp_split
from .batching import batch_body, batch_flat
from .compiler import lower_jaxpr
from .forward import jvp_body
from .primitives._base import VJP
from .primitives._transforms import batch_size, bdim_at_front, instantiate

__all__ = ["custom_jvp", "custom_vjp", "checkpoint", "remat", "checkpoint_policies", "saved_residuals",
           "print_saved_residuals"]


# ---------------------------------------------------------------------------------------------
# Shared by the three: a call of a body, its arguments as pytrees with static positions

def _call_shape(*avals, call, **_):
    return call.out_avals


def _call_impl(*args, call, **_):
    return owned([np.asarray(o) for o in straight_line(call)(*args)], memory_ids(args))


def _call_lower(*args, call, **_):
    return lower_jaxpr(call, list(args))


def _call_prim(name: str) -> Primitive:
    p = Primitive(name, _call_shape, _call_impl, multiple_results=True)
    p.rules["lower"] = _call_lower
    return p


class _Args:
    """A call's arguments: the static ones (nondiff_argnums) by position, the others as flat leaves."""

    def __init__(self, args: tuple, static_argnums: Sequence[int], what: str):
        n = len(args)
        self.static = {i % n: args[i] for i in static_argnums if -n <= i < n}
        dyn = [a for i, a in enumerate(args) if i not in self.static]
        flats = [tree_flatten(a) for a in dyn]
        self.trees = [t for _, t in flats]
        self.leaves = [x for ls, _ in flats for x in ls]
        self.n = n
        check_leaves(self.leaves, what)
        self.avals = [aval_of(x) for x in self.leaves]

    def dynamic(self, leaves) -> list:
        """The non-static arguments rebuilt from leaves."""
        out, at = [], 0
        for t in self.trees:
            out.append(tree_unflatten(t, list(leaves[at:at + t.num_leaves])))
            at += t.num_leaves
        return out

    def full(self, leaves) -> list:
        it = iter(self.dynamic(leaves))
        return [self.static[i] if i in self.static else next(it) for i in range(self.n)]

    def static_values(self) -> list:
        return [self.static[i] for i in sorted(self.static)]


def _trace(fun: Callable, args: _Args, what: str):
    """`(body, consts, out_tree)`: fun on these arguments, traced once."""
    got = []

    def flat(*leaves):
        out_leaves, out_tree = tree_flatten(fun(*args.full(leaves)))
        check_leaves(out_leaves, f"output of {what}")
        got.append(out_tree)
        return out_leaves
    with name_scope(what):
        body, consts = trace_body(flat, args.avals)
    return body, consts, got[0]


def _over_batch(fun: Callable, size: int) -> Callable:
    """fun (flat) over a batch: every input and output batched along axis 0."""
    def batched(*xs):
        outs, dims = batch_flat(fun, list(xs), [0] * len(xs), size)
        return [bdim_at_front(o, d, size) for o, d in zip(outs, dims)]
    return batched


def _batch_call(prim, args, dims, params, rules_over_batch):
    """A call batched: its body batched with the arguments at axis 0 (the closed-over constants as they
    are), its rules wrapped by `rules_over_batch(size)` (a dict of new params)."""
    nc, call, name = params["num_consts"], params["call"], params["name"]
    if any(d is not None for d in dims[:nc]):
        raise ArgumentError(f"vmap: {name} closes over a batched value, which its custom rule cannot see",
                            f"Pass the value to {name} as an argument instead of closing over it.")
    size = batch_size(args, dims)
    front = [bdim_at_front(a, d, size) for a, d in zip(args[nc:], dims[nc:])]
    body, consts, _ = batch_body(call, (None,) * nc + (0,) * len(front), size, (True,) * len(call.outvars))
    outs = prim.bind(*consts, *args[:nc], *front, **dict(params, call=body, num_consts=len(consts) + nc,
                                                         **rules_over_batch(size)))
    return outs, [0] * len(outs)


def _zeros(x):
    a = aval_of(x)
    return np.zeros(a.shape, a.dtype)


# ---------------------------------------------------------------------------------------------
# custom_jvp

def _cjvp_jvp(primals, tangents, *, call, rule, num_consts, name):
    args = primals[num_consts:]
    outs, touts = rule(list(args), [instantiate(t, p) for t, p in zip(tangents[num_consts:], args)])
    return list(outs), list(touts)


def _cjvp_fwd(parent, prim, args, params, in_avals, out_avals):
    return parent.process(prim, list(args), params), list(args[params["num_consts"]:])


def _cjvp_bwd(eqn, args, cts, wanted):
    """The transpose of the rule: its VJP with respect to the tangents, which it is linear in."""
    nc, rule = eqn.params["num_consts"], eqn.params["rule"]
    floats = [aval_of(a).dtype.kind == "f" for a in args]

    def tangents_out(*ts):
        it = iter(ts)
        return rule(list(args), [next(it) if f else _zeros(a) for a, f in zip(args, floats)])[1]
    _, pullback = vjp(tangents_out, *[_zeros(a) for a, f in zip(args, floats) if f])
    got = iter(pullback([c if c is not None else _zeros(v.aval) for c, v in zip(cts, eqn.outvars)]))
    grads = [next(got) if f else None for f in floats]
    return [None] * nc + [g if w else None for g, w in zip(grads, wanted[nc:])]


def _cjvp_batch(args, dims, **params):
    rule, n_out = params["rule"], len(params["call"].outvars)

    def over(size):
        def flat(*xs):
            outs, touts = rule(list(xs[:len(xs) // 2]), list(xs[len(xs) // 2:]))
            return list(outs) + list(touts)

        def batched_rule(ps, ts):
            got = _over_batch(flat, size)(*ps, *ts)
            return got[:n_out], got[n_out:]
        return {"rule": batched_rule}
    return _batch_call(custom_jvp_call_p, args, dims, params, over)


custom_jvp_call_p = _call_prim("custom_jvp_call")
custom_jvp_call_p.rules["jvp"] = _cjvp_jvp
custom_jvp_call_p.rules["vjp"] = VJP(_cjvp_bwd, fwd=_cjvp_fwd)
custom_jvp_call_p.rules["batch"] = _cjvp_batch


class custom_jvp:  # noqa: N801  (JAX's name)
    """`f = custom_jvp(fun)`, then `@f.defjvp` a rule `rule(primals, tangents) -> (out, tangent_out)`
    (tuples of the non-static arguments; `nondiff_argnums` are passed first, as they are). Forward mode
    uses the rule; reverse mode uses its transpose; `f.defjvps(*per_argument)` gives one
    `jvp(tangent, ans, *primals)` per argument instead."""

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        self.fun, self.nondiff_argnums = fun, tuple(nondiff_argnums)
        self.rule = None
        functools.update_wrapper(self, fun)

    def defjvp(self, rule: Callable, symbolic_zeros: bool = False) -> Callable:
        self.rule = rule
        return rule

    def defjvps(self, *jvps: Callable | None) -> None:
        def rule(primals, tangents):
            ans = self.fun(*primals)
            total = None
            for j, t in zip(jvps, tangents):
                if j is not None:
                    c = j(t, ans, *primals)
                    total = c if total is None else tree_unflatten(
                        tree_flatten(total)[1], [a + b for a, b in zip(tree_flatten(total)[0], tree_flatten(c)[0])])
            return ans, total
        self.rule = rule

    def __call__(self, *args):
        name = _name(self.fun)
        if self.rule is None:
            raise ArgumentError(f"custom_jvp function {name} was called before its rule was given",
                                "Give the rule with @f.defjvp before calling f.")
        a = _Args(args, self.nondiff_argnums, f"arguments of {name}")
        body, consts, out_tree = _trace(self.fun, a, name)
        user = self.rule

        def rule(ps, ts):  # flat leaves in, flat leaves out
            out, tout = user(*a.static_values(), tuple(a.dynamic(ps)), tuple(a.dynamic(ts)))
            touts = tree_flatten(tout)[0]
            return tree_flatten(out)[0], touts
        outs = custom_jvp_call_p.bind(*consts, *a.leaves, call=body, rule=rule, num_consts=len(consts), name=name)
        return tree_unflatten(out_tree, outs)


# ---------------------------------------------------------------------------------------------
# custom_vjp

def _cvjp_jvp(primals, tangents, *, call, fwd, bwd, num_consts, name):
    raise MissingRuleError(f"forward mode (jvp) cannot go through the custom_vjp function {name}: it has a "
                           "reverse-mode rule only (as in JAX)",
                           "Use custom_jvp for a rule forward mode can use (reverse mode is derived from it), "
                           "or reverse mode (mg.grad, mg.vjp, mg.jacrev) here.")


def _cvjp_fwd(parent, prim, args, params, in_avals, out_avals):
    token = enter(parent)  # the user's forward function computes at the parent's level
    try:
        outs, res = params["fwd"](list(args[params["num_consts"]:]))
    finally:
        leave(token)
    return list(outs), list(res)


def _cvjp_bwd(eqn, res, cts, wanted):
    nc = eqn.params["num_consts"]
    grads = eqn.params["bwd"](list(res), [c if c is not None else _zeros(v.aval) for c, v in zip(cts, eqn.outvars)])
    return [None] * nc + [g if w else None for g, w in zip(grads, wanted[nc:])]


def _cvjp_batch(args, dims, **params):
    fwd, bwd, n_out = params["fwd"], params["bwd"], len(params["call"].outvars)

    def over(size):
        def flat_fwd(*xs):
            outs, res = fwd(list(xs))
            return list(outs) + list(res)

        def batched_fwd(ps):
            got = _over_batch(flat_fwd, size)(*ps)
            return got[:n_out], got[n_out:]

        def batched_bwd(res, cts):
            return _over_batch(lambda *xs: bwd(list(xs[:len(res)]), list(xs[len(res):])), size)(*res, *cts)
        return {"fwd": batched_fwd, "bwd": batched_bwd}
    return _batch_call(custom_vjp_call_p, args, dims, params, over)


custom_vjp_call_p = _call_prim("custom_vjp_call")
custom_vjp_call_p.rules["jvp"] = _cvjp_jvp
custom_vjp_call_p.rules["vjp"] = VJP(_cvjp_bwd, fwd=_cvjp_fwd)
custom_vjp_call_p.rules["batch"] = _cvjp_batch


class custom_vjp:  # noqa: N801  (JAX's name)
    """`f = custom_vjp(fun)`, then `f.defvjp(fwd, bwd)`: `fwd(*args) -> (out, residuals)` (residuals any
    pytree of arrays), `bwd(*nondiff_args, residuals, g) -> a tuple with one cotangent per non-static
    argument` (None: zero). Reverse mode uses them; forward mode is refused, as in JAX."""

    def __init__(self, fun: Callable, nondiff_argnums: Sequence[int] = ()):
        self.fun, self.nondiff_argnums = fun, tuple(nondiff_argnums)
        self.fwd = self.bwd = None
        functools.update_wrapper(self, fun)

    def defvjp(self, fwd: Callable, bwd: Callable, symbolic_zeros: bool = False) -> None:
        self.fwd, self.bwd = fwd, bwd

    def __call__(self, *args):
        name = _name(self.fun)
        if self.fwd is None:
            raise ArgumentError(f"custom_vjp function {name} was called before its rule was given",
                                "Give the rule with f.defvjp(fwd, bwd) before calling f.")
        a = _Args(args, self.nondiff_argnums, f"arguments of {name}")
        body, consts, out_tree = _trace(self.fun, a, name)
        user_fwd, user_bwd, res_tree = self.fwd, self.bwd, []

        def fwd(ps):
            out, res = user_fwd(*a.full(ps))
            res_leaves, tree = tree_flatten(res)
            res_tree[:] = [tree]
            return tree_flatten(out)[0], res_leaves

        def bwd(res, cts):
            got = user_bwd(*a.static_values(), tree_unflatten(res_tree[0], list(res)), tree_unflatten(out_tree, cts))
            if not isinstance(got, (tuple, list)) or len(got) != len(a.trees):
                raise ArgumentError(f"custom_vjp {name}: bwd must return a tuple with one cotangent per "
                                    f"non-static argument ({len(a.trees)}), got {type(got).__name__}",
                                    "Return (ct_x,) for one argument; None for an argument with no gradient.")
            flat, at = [], 0
            for g, t in zip(got, a.trees):  # each against its argument's structure; None: zeros
                parts = [None] * t.num_leaves if g is None else t.flatten_up_to(g)
                flat += [_zeros(x) if c is None else c for c, x in zip(parts, a.leaves[at:at + t.num_leaves])]
                at += t.num_leaves
            return flat
        outs = custom_vjp_call_p.bind(*consts, *a.leaves, call=body, fwd=fwd, bwd=bwd, num_consts=len(consts),
                                      name=name)
        return tree_unflatten(out_tree, outs)


# ---------------------------------------------------------------------------------------------
# checkpoint: keep the inputs, recompute the rest of the forward pass in the backward pass

class checkpoint_policies:  # noqa: N801  (JAX's module name)
    """Which intermediate values a checkpointed function saves for the backward pass (the rest is
    recomputed): `policy(prim, *avals, **params) -> bool` for the equation that made the value."""

    @staticmethod
    def nothing_saveable(prim, *avals, **params) -> bool:
        return False

    @staticmethod
    def everything_saveable(prim, *avals, **params) -> bool:
        return True

    @staticmethod
    def dots_saveable(prim, *avals, **params) -> bool:
        return prim.name == "dot_general"

    checkpoint_dots = dots_saveable


def _remat_jvp(primals, tangents, *, call, policy, name):
    body, consts, out_nz = jvp_body(call, tuple(t is not None for t in tangents))
    outs = remat_p.bind(*consts, *primals, *[t for t in tangents if t is not None], call=body, policy=policy,
                        name=name)
    n = len(call.outvars)
    given = iter(outs[n:])
    return outs[:n], [next(given) if z else None for z in out_nz]


def _remat_batch(args, dims, *, call, policy, name):
    body, consts, out_dims = batch_body(call, tuple(dims), batch_size(args, dims))
    return remat_p.bind(*consts, *args, call=body, policy=policy, name=name), list(out_dims)


def _saved(call: Jaxpr, policy) -> tuple:
    """Which residuals of the body's forward program the policy saves (by the equation that made each)."""
    key = ("remat_saved", policy)
    got = call.cache.get(key)
    if got is None:
        split = vjp_split(call)
        fwd, _ = split.fwd
        made = {v: e for e in fwd.eqns for v in e.outvars}
        res = fwd.outvars[split.n_out:]
        got = tuple(v in made and bool(policy(made[v].prim, *[x.aval for x in made[v].invars], **made[v].params))
                    for v in res)
        call.cache[key] = got
    return got


def _remat_fwd(parent, prim, args, params, in_avals, out_avals):
    call, policy = params["call"], params["policy"]
    saved = _saved(call, policy) if policy is not None else ()
    if not any(saved):
        return parent.process(prim, list(args), params), (list(args), [])
    split = vjp_split(call)
    fwd, fconsts = split.fwd
    token = enter(parent)
    try:
        outs = eval_jaxpr(fwd, [], list(fconsts) + list(args))
    finally:
        leave(token)
    res = outs[split.n_out:]
    return outs[:split.n_out], (list(args), [r for r, s in zip(res, saved) if s])


def _recompute(call: Jaxpr, saved: tuple) -> Jaxpr:
    """The forward program as a function of (its inputs, the saved residuals) computing every residual:
    what made a saved residual is not run again."""
    key = ("remat_recompute", saved)
    got = call.cache.get(key)
    if got is None:
        split = vjp_split(call)
        fwd, consts = split.fwd
        res = fwd.outvars[split.n_out:]
        fresh = [Var(v.aval) for v, s in zip(res, saved) if s]  # one input per saved residual
        sub: dict = {}
        for v, f in zip([v for v, s in zip(res, saved) if s], fresh):
            if type(v) is Var:
                sub.setdefault(v, f)
        eqns = [e.replace(invars=[sub.get(x, x) if type(x) is Var else x for x in e.invars])
                for e in fwd.eqns if not all(o in sub for o in e.outvars)]
        body = dce(Jaxpr([], fwd.invars + fresh, [sub.get(v, v) if type(v) is Var else v for v in res], eqns))
        got = call.cache[key] = (body, consts)
    return got


def _remat_bwd(eqn, res, cts, wanted):
    call, policy = eqn.params["call"], eqn.params["policy"]
    args, kept = res
    split = vjp_split(call)
    saved = _saved(call, policy) if policy is not None else (False,) * len(split.res_avals)
    body, consts = _recompute(call, saved)
    residuals = eval_jaxpr(body, [], list(consts) + list(args) + list(kept))
    back, bconsts = split.backward(tuple(wanted), tuple(c is not None for c in cts))
    got = iter(eval_jaxpr(back, [], list(bconsts) + list(args) + residuals + [c for c in cts if c is not None]))
    return [next(got) if w else None for w in wanted]


def _remat_dce(eqn, used):
    """Drop the outputs nothing reads, and what computed only them in the body."""
    body = eqn.params["call"]
    smaller = dce(Jaxpr([], body.invars, [v for v, u in zip(body.outvars, used) if u], body.eqns))
    return eqn.replace(outvars=[v for v, u in zip(eqn.outvars, used) if u], params=dict(eqn.params, call=smaller))


remat_p = _call_prim("checkpoint")
remat_p.rules["jvp"] = _remat_jvp
remat_p.rules["vjp"] = VJP(_remat_bwd, fwd=_remat_fwd)
remat_p.rules["batch"] = _remat_batch
remat_p.rules["dce"] = _remat_dce


def checkpoint(fun: Callable, *, prevent_cse: bool = True, policy: Callable | None = None,
               static_argnums: Sequence[int] = ()) -> Callable:
    """fun, whose intermediate values the backward pass recomputes instead of keeping (only the inputs,
    and what `policy` saves, are kept): less memory for one more forward pass of fun. fun is traced at
    each call (with its closure's values of that moment); under jit, once per signature."""
    name = _name(fun)

    @functools.wraps(fun)
    def checkpointed(*args):
        a = _Args(args, static_argnums, f"arguments of checkpoint({name})")
        body, consts, out_tree = _trace(fun, a, f"checkpoint({name})")
        outs = remat_p.bind(*consts, *a.leaves, call=body, policy=policy, name=name)
        return tree_unflatten(out_tree, outs)
    return checkpointed


remat = checkpoint


# ---------------------------------------------------------------------------------------------
# What the backward pass keeps

def saved_residuals(fun: Callable, *args) -> list[tuple]:
    """`(aval, bytes, where)` for each value grad's backward pass of fun at args keeps (with respect to
    every float argument): made by an operation (`where` names it and the user's line) or an argument."""
    leaves, tree = tree_flatten(args)
    with new_trace(with_values=False) as staged:
        ins = [staged.new_arg(aval_of(x)) for x in leaves]
        with new_trace(with_values=True, forward=vjp_forward) as inner:
            xs = [inner.new_arg(t.aval, t) if t.aval.dtype.kind == "f" else t for t in ins]
            fun(*tree_unflatten(tree, xs))
        kept = [x for k in inner.kept for x in tree_flatten(k)[0]]
        made = {v: e for e in staged.eqns for v in e.outvars}
        names = {id(t): f"argument {i}" for i, t in enumerate(ins)}
        out, seen = [], set()
        for x in kept:
            if id(x) in seen or not hasattr(x, "aval"):
                continue
            seen.add(id(x))
            a = x.aval
            size = int(np.prod(a.shape, dtype=np.int64)) * a.dtype.itemsize
            if id(x) in names:
                where = f"{names[id(x)]} (an input: no extra memory)"
            else:
                e = made.get(getattr(x, "_var", None))
                where = (f"output of {e.prim.name}" + (f" at {e.source.location()}" if e.source.code else "")
                         if e is not None else "a constant")
            out.append((a, size, where))
    return out


def print_saved_residuals(fun: Callable, *args) -> None:
    """Print what grad's backward pass of fun at args keeps: each value's type, bytes and origin."""
    rows = saved_residuals(fun, *args)
    for a, size, where in rows:
        print(f"{str(a):>16} {size:>12,} bytes  {where}")
    extra = sum(size for _, size, where in rows if "an input" not in where)
    print(f"{len(rows)} values kept, {extra:,} bytes beyond the inputs")
