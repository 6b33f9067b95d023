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

from tracing import (ROOT, ArgumentError, Jaxpr, Literal, MinigradError, Tracer, Var, aval_of, check_args,
                     check_leaves, current_trace, eval_jaxpr, leaf_names, name_scope, new_trace, optimize,
                     tree_flatten, tree_unflatten)

from tracing.source import _emitting_for, emitting_on_behalf_of

from .primitives import add


class GradTypeError(MinigradError, TypeError):
    """grad was asked for something it cannot differentiate (integer inputs, non-scalar outputs)."""


class MissingRuleError(MinigradError, NotImplementedError):
    """A primitive has no rule for the transformation asked of it."""


def _is_float(aval) -> bool:
    return aval.dtype.kind == "f"


def vjp_forward(parent, prim, args, params, in_avals, out_avals):
    """grad's forward part of one operation: its VJP rule's `fwd` (outputs computed in `parent`, and the
    residuals the rule's backward part needs), or an error naming a primitive that has no VJP rule."""
    rule = prim.rules.get("vjp")
    if rule is None:
        raise MissingRuleError(
            f"{prim.name} has no VJP rule, so grad cannot differentiate through it "
            f"(operands {', '.join(str(a) for a in in_avals)})",
            f"Give {prim.name} a vjp rule beside its definition; if it has no derivative, say so with "
            "vjp=[None, ...] (no gradient flows), or wrap its operands in stop_gradient.")
    if rule.fwd is not None:
        return rule.fwd(parent, prim, args, params, in_avals, out_avals)
    # the default forward part (see VJP): the operands it reads, then the outputs if it reads them
    outs = parent.process(prim, args, params, out_avals)
    reads = rule.reads
    res = args if reads is None else [args[i] for i in reads] if reads else ()
    return outs, [*res, *outs] if rule.reads_ans else res


def passes_no_gradient(eqn) -> bool:
    """True for an equation no gradient flows through (its primitive declares no VJP for any operand)."""
    rule = eqn.prim.rules.get("vjp")
    return rule is not None and getattr(rule.bwd, "rules", None) is not None and \
        all(r is None for r in rule.bwd.rules)


def backward_pass(eqns: Sequence, residuals: list, seed: dict, active: set, free: bool = False,
                  on_gate: Callable | None = None) -> dict:
    """Cotangents of the active variables, given cotangents `seed` of some outputs (symbolic zeros absent).

    `residuals[i]` is what equation i's VJP forward part kept; `active` holds the float variables that
    depend on the differentiated inputs: only they receive cotangents. Each rule runs "on behalf of" its
    forward equation, so the backward equations it emits (under an enclosing trace) carry that equation
    as their source. With `free`, residuals are dropped once used (the forward values are released as
    the gradients grow). `on_gate(i, cts_out, sent)` sees what equation i sent to each operand (before
    gradients add at branches): the pictures read the one backward pass through it.
    """
    cts = dict(seed)
    recording = current_trace() is not ROOT  # else the rules compute numbers and nothing records them
    for i in range(len(eqns) - 1, -1, -1):
        eqn = eqns[i]
        outvars = eqn.outvars
        if len(outvars) == 1:
            g = cts.pop(outvars[0], None)
            if g is None:
                continue
            g = [g]
        else:
            g = [cts.pop(v, None) for v in outvars]
            if all(c is None for c in g):
                continue
        invars = eqn.invars
        wanted = [type(v) is Var and v in active for v in invars]
        if True not in wanted:
            if on_gate is not None:
                on_gate(i, g, [None] * len(invars))
            continue
        res = residuals[i]
        if free:
            residuals[i] = None
        bwd = eqn.prim.rules["vjp"].bwd
        token = _emitting_for.set(eqn) if recording else None  # what the rule emits comes from eqn
        try:
            sent = bwd(eqn, res, g, wanted)
            if on_gate is not None:
                on_gate(i, g, sent)
            for v, c, w in zip(invars, sent, wanted):
                if w and c is not None:
                    prev = cts.get(v)
                    cts[v] = c if prev is None else add(prev, c)  # gradients add at branches
        except MinigradError:
            if not recording:  # run the rule again on behalf of eqn, so the error names eqn's user line
                with emitting_on_behalf_of(eqn):
                    bwd(eqn, res, g, wanted)
            raise
        finally:
            if token is not None:
                _emitting_for.reset(token)
    return cts


def active_vars(eqns: Sequence, inputs: Sequence[Var]) -> set:
    """The float variables that depend on `inputs` (those that receive cotangents)."""
    active = {v for v in inputs if _is_float(v.aval)}
    for eqn in eqns:
        if passes_no_gradient(eqn):  # stop_gradient, comparisons: nothing flows back through them
            continue
        for v in eqn.invars:
            if type(v) is Var and v in active:
                active.update(o for o in eqn.outvars if _is_float(o.aval))
                break
    return active


def _zeros(aval):
    return np.zeros(aval.shape, aval.dtype)


def _memory_owner(a: np.ndarray):
    """The object that owns an array's memory: every view of one array has the same owner."""
    while True:
        b = a.base
        if b is None:
            return a
        if not isinstance(b, np.ndarray):
            return b  # a buffer numpy did not allocate (bytes, another library's array)
        a = b


def memory_ids(leaves) -> set:
    """Ids of the owners of the memory of the numpy arrays among `leaves` (others are immutable)."""
    return {id(_memory_owner(x)) for x in leaves if isinstance(x, np.ndarray)}


def owned(leaves, taken: set) -> list:
    """The leaves as the caller may own them: a numpy array sharing memory with `taken` (ids of memory
    owners: the caller's inputs, what a transform keeps) or with an earlier leaf, or a read-only one, is
    copied; each result's owner joins `taken`. Only what would alias is copied."""
    out = []
    for x in leaves:
        if isinstance(x, np.ndarray):
            key = id(_memory_owner(x))
            if key in taken or not x.flags.writeable:
                x = x.copy()
                key = id(x)
            taken.add(key)
        out.append(x)
    return out


def _snapshot(kept: list, user: set) -> tuple[list, set]:
    """The residuals with each array that shares memory with the caller's (`user`: inputs, closed-over
    constants) copied once, so mutating those afterwards cannot change the backward pass; and the ids
    of the residuals' memory owners."""
    copies: dict = {}
    held: set = set()

    def own(x):
        if isinstance(x, np.ndarray):
            key = id(_memory_owner(x))
            if key in user:
                c = copies.get(id(x))
                if c is None:
                    c = copies[id(x)] = x.copy()
                x, key = c, id(c)
            held.add(key)
        return x
    return [optree.tree_map(own, k, none_is_leaf=False) for k in kept], held


def _vjp(fun: Callable, primals: Sequence, has_aux: bool, what: str, once: bool = False):
    check_args(fun, primals, what)
    leaves, tree = tree_flatten(tuple(primals))
    leaves = [x if isinstance(x, Tracer) else np.asarray(x) for x in leaves]
    with name_scope(f"vjp({_name(fun)})"), new_trace(with_values=True, forward=vjp_forward) as trace:
        trace.blocks = passes_no_gradient
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
    aux_leaves, aux_tree = tree_flatten(aux) if has_aux else ([], None)
    aux_leaves = [trace.value_of(a) for a in aux_leaves]
    eqns, residuals, invars = trace.eqns, trace.kept, trace.invars
    # What the caller owns must not alias what we keep or return: the residuals may reference the
    # caller's arrays (inputs, closed-over constants, views of them) and the outputs may be those arrays
    user = memory_ids(leaves) | memory_ids(trace.consts)
    if not once:  # the caller holds vjp_fn and may mutate its arrays before calling it: snapshot
        user |= memory_ids([v.val for e in eqns for v in e.invars if type(v) is Literal])  # 0-d arrays
        residuals, held = _snapshot(residuals, user)
        user |= held
    # grad (once) calls vjp_fn before returning: its residuals are never seen again
    out_vals = owned(out_vals, user)
    aux = tree_unflatten(aux_tree, owned(aux_leaves, user)) if has_aux else None
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
                raise ArgumentError(f"vjp_fn: cotangent of shape {np.shape(c)} for an output of shape {np.shape(o)}",
                                    "Give one cotangent per output, of its shape and dtype (np.ones_like(out) "
                                    "for the gradient of the output's sum).")
            if var is not None and _is_float(var.aval):
                c = c if isinstance(c, Tracer) else np.asarray(c, dtype=var.aval.dtype)
                seed[var] = c if var not in seed else add(seed[var], c)
        cts = backward_pass(eqns, residuals, seed, active_vars(eqns, invars), free=once)
        grads = [cts.get(v) for v in invars]
        grads = [_zeros(v.aval) if g is None else g if isinstance(g, Tracer) else np.asarray(g, dtype=v.aval.dtype)
                 for g, v in zip(grads, invars)]
        # each gradient leaf a distinct writable array, sharing memory with no input, cotangent, output
        # or residual (rules may pass a cotangent on unchanged, or to two operands)
        return tree_unflatten(tree, owned(grads, user | memory_ids(ct_leaves)))

    out = tree_unflatten(out_tree, out_vals)
    return out, vjp_fn, aux


def vjp(fun: Callable, *primals, has_aux: bool = False):
    """`(out, vjp_fn)` (plus aux with has_aux): vjp_fn maps a cotangent of out to cotangents of primals."""
    out, vjp_fn, aux = _vjp(fun, primals, has_aux, f"vjp({_name(fun)})")
    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


def _name(fun) -> str:
    return getattr(fun, "__name__", type(fun).__name__)


def differentiated_args(fun, args, argnums, what: str, noun: str = "can be differentiated") -> list[int]:
    """The positions argnums names (an int or a sequence, negative allowed), after checking each leaf there
    is a float array; an ArgumentError or GradTypeError naming the argument otherwise."""
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for i in nums:
        if not -len(args) <= i < len(args):
            raise ArgumentError(f"{what}: argnums={argnums} but the function got {len(args)} positional arguments",
                                f"argnums counts positional arguments from 0 (here 0 to {len(args) - 1}); keyword "
                                "arguments cannot be differentiated: pass them positionally.")
    idx = [i % len(args) for i in nums]
    if len(set(idx)) != len(idx):  # JAX fails here with an unrelated TypeError; never a silent zero
        twice = next(i for i in idx if idx.count(i) > 1)
        raise ArgumentError(f"{what}: argnums={argnums} names argument {twice} more than once",
                            "Name each argument once; the gradient with respect to it is returned once.")
    check_args(fun, args, what, idx)
    for i in idx:
        for j, x in enumerate(tree_flatten(args[i])[0]):
            dt = aval_of(x).dtype
            if dt.kind != "f":
                raise GradTypeError(
                    f"{what}: {leaf_names(fun, args, [i])[j]} (argnums={i}) has dtype {dt.name} and shape "
                    f"{tuple(np.shape(x))}; "
                    f"only floating-point inputs {noun}",
                    "Cast it, e.g. x.astype(np.float64) or a float literal (2.0, not 2), or leave it out "
                    "of argnums if it is data.")
    return idx


def with_args(fun, args, idx, kwargs) -> Callable:
    """fun as a function of the arguments at positions idx only (the others and kwargs fixed)."""
    def partial(*dyn):
        full = list(args)
        for i, d in zip(idx, dyn):
            full[i] = d
        return fun(*full, **kwargs)
    partial.__name__ = _name(fun)
    return partial


def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """A function returning `(fun(*args), gradient of fun w.r.t. args[argnums])`; with has_aux,
    `((value, aux), gradient)`."""
    single = isinstance(argnums, int)
    what = f"grad({_name(fun)})"

    def value_and_grad_fun(*args, **kwargs):
        idx = differentiated_args(fun, args, argnums, what)
        out, vjp_fn, aux = _vjp(with_args(fun, args, idx, kwargs), [args[i] for i in idx], has_aux, what, once=True)
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


# ---------------------------------------------------------------------------------------------
# The VJP of a whole program, split into a forward program and a backward program

class VJPSplit:
    """A program's VJP as two programs: `fwd` (inputs -> outputs, then residuals) and, per pattern of
    wanted inputs and nonzero output cotangents, `backward(wanted, has_ct)` ((inputs, residuals,
    nonzero cotangents) -> wanted input cotangents, with its constants as leading inputs).

    The forward program is the body traced once under grad's forward parts, staged: the residuals are
    exactly what the rules' forward parts kept, so the backward program recomputes nothing.
    """

    def __init__(self, jaxpr):
        self.jaxpr = jaxpr
        with new_trace(with_values=False) as staged:
            ins = [staged.new_arg(a) for a in jaxpr.in_avals]
            with new_trace(with_values=True, forward=vjp_forward) as inner:
                outs = eval_jaxpr(jaxpr, [], [inner.new_arg(t.aval, t) for t in ins])
            out_vals = [inner.value_of(o) for o in outs]
            # residual leaves: staged values (the inputs are passed again anyway, so not kept twice)
            leaves, self._tree = optree.tree_flatten(inner.kept, none_is_leaf=False)
            in_ids = {id(t): i for i, t in enumerate(ins)}
            res_ids: dict = {}
            self._slots = []   # per leaf: ("input", i) | ("res", k)
            res = []
            for x in leaves:
                if id(x) in in_ids:
                    self._slots.append(("input", in_ids[id(x)]))
                else:
                    if id(x) not in res_ids:
                        res_ids[id(x)] = len(res)
                        res.append(x)
                    self._slots.append(("res", res_ids[id(x)]))
            closed = optimize(staged.to_jaxpr(out_vals + res))
        self.fwd = as_body(closed)
        self.n_out = len(outs)
        self.res_avals = [aval_of(r) for r in res]
        self._eqns, self._invars = inner.eqns, inner.invars
        self._out_vars = [o._var if isinstance(o, Tracer) and o._trace is inner else None for o in outs]
        self._backward: dict = {}

    def backward(self, wanted: tuple, has_ct: tuple):
        """`(body, consts)`: the backward program for this pattern (cached)."""
        prog = self._backward.get((wanted, has_ct))
        if prog is None:
            prog = self._backward[(wanted, has_ct)] = self._trace_backward(wanted, has_ct)
        return prog

    def _trace_backward(self, wanted, has_ct):
        out_avals = self.jaxpr.out_avals
        with new_trace(with_values=False) as staged:
            ins = [staged.new_arg(a) for a in self.jaxpr.in_avals]
            res = [staged.new_arg(a) for a in self.res_avals]
            cts = [staged.new_arg(a) for a, h in zip(out_avals, has_ct) if h]
            leaves = [ins[x] if kind == "input" else res[x] for kind, x in self._slots]
            residuals = list(optree.tree_unflatten(self._tree, leaves))
            seed: dict = {}
            given = iter(cts)
            for var, h in zip(self._out_vars, has_ct):
                c = next(given) if h else None
                if var is not None and c is not None and _is_float(var.aval):
                    seed[var] = c if var not in seed else add(seed[var], c)
            got = backward_pass(self._eqns, residuals, seed, active_vars(self._eqns, self._invars))
            grads = [got.get(v) for v, w in zip(self._invars, wanted) if w]
            grads = [_zeros(v.aval) if g is None else g
                     for g, v in zip(grads, [v for v, w in zip(self._invars, wanted) if w])]
            closed = optimize(staged.to_jaxpr(grads))
        return as_body(closed)


def as_body(closed):
    """A closed program as a body: its constants become leading inputs."""
    j = closed.jaxpr
    return Jaxpr([], j.constvars + j.invars, j.outvars, j.eqns), closed.consts


def trace_body(fun: Callable, avals: Sequence) -> tuple:
    """`(body, consts)`: `fun` (flat inputs of these avals -> a list of outputs) traced, optimised, as a
    body (its constants, possibly outer tracers, become leading inputs). How bodies of calls, loops and
    branches, and the programs derived from them, are made."""
    with new_trace(with_values=False) as staged:
        ins = [staged.new_arg(a) for a in avals]
        closed = optimize(staged.to_jaxpr(list(fun(*ins))))
    return as_body(closed)


def vjp_split(jaxpr) -> VJPSplit:
    """The forward/backward split of a body (no constvars), cached on it."""
    split = jaxpr.cache.get("vjp_split")
    if split is None:
        split = jaxpr.cache["vjp_split"] = VJPSplit(jaxpr)
    return split
