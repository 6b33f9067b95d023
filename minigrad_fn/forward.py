"""Forward mode: the JVP trace, and jvp / linearize / jacfwd / jacrev / hessian on top of it.

A JVP tracer carries a primal value and its tangent (None: a symbolic zero). An operation on JVP tracers
is handed to the primitive's JVP rule, `rules["jvp"](primals, tangents, **params) -> (outs, tangents)`,
which computes with the library's own primitives on parent-level values: at the top level they compute
numbers, under an enclosing trace they are recorded (so jit(jvp), jvp(grad) and jvp(jvp) compose). An
operation none of whose operands carries a tangent is handed to the parent trace, untouched.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from tracing import (ArgumentError, ClosedJaxpr, ShapedArray, Trace, Tracer, aval_of, check_args, check_leaves,
                     current_trace, entered, eval_jaxpr, name_scope, new_trace, optimize, tree_flatten, tree_unflatten)
from tracing.core import _leaked, enter_parent, leave

from .autodiff import (GradTypeError, MissingRuleError, _name, differentiated_args, memory_ids, owned, trace_body,
                       vjp, with_args)
from .primitives._transforms import zeros_like


class JVPTracer(Tracer):
    """A value being differentiated forward: its primal and its tangent (None: zero)."""

    __slots__ = ("primal", "tangent")

    def __init__(self, trace: "JVPTrace", primal, tangent):
        self._trace = trace
        self.aval = primal.aval if isinstance(primal, Tracer) else aval_of(primal)
        self.primal = primal
        self.tangent = tangent

    def concrete_value(self):
        return self.primal


class JVPTrace(Trace):
    """Forward-mode differentiation: each operation's primal and tangent outputs by its JVP rule."""

    __slots__ = ()

    def differentiates(self, tracer):
        return tracer.tangent is not None

    def lift(self, x, prim=None):
        if isinstance(x, Tracer) and not x._trace.alive:
            raise _leaked(x, prim)
        return JVPTracer(self, x, None)

    def process(self, prim, args, params, out_avals=None):
        primals, tangents, any_tangent = [], [], False
        for a in args:
            if isinstance(a, Tracer) and a._trace is self:
                primals.append(a.primal)
                tangents.append(a.tangent)
                any_tangent = any_tangent or a.tangent is not None
            else:
                primals.append(a)
                tangents.append(None)
        if not any_tangent:  # nothing here is being differentiated
            return self.parent.process(prim, primals, params, out_avals)
        rule = prim.rules.get("jvp")
        if rule is None:
            raise MissingRuleError(
                f"{prim.name} has no JVP rule, so forward mode (jvp, jacfwd, hessian) cannot differentiate "
                f"through it (operands {', '.join(str(aval_of(p)) for p in primals)})",
                f"Give {prim.name} a jvp rule beside its definition.")
        token = enter_parent(self)  # the rule binds on parent-level values: straight to the parent
        try:
            outs, out_tangents = rule(primals, tangents, **params)
        finally:
            leave(token)
        return [o if t is None else JVPTracer(self, o, t) for o, t in zip(outs, out_tangents)]


def _zeros_like(x):
    a = aval_of(x)
    return np.zeros(a.shape, a.dtype)


def _check_tangents(what: str, fun, primals, tangents):
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise ArgumentError(f"{what}: primals and tangents must be tuples (one entry per argument), got "
                            f"{type(primals).__name__} and {type(tangents).__name__}",
                            "Write jvp(f, (x,), (v,)) for a function of one argument.")
    if len(primals) != len(tangents):
        raise ArgumentError(f"{what}: {len(primals)} primals but {len(tangents)} tangents")
    check_args(fun, primals, what)
    p_leaves, p_tree = tree_flatten(tuple(primals))
    t_leaves, t_tree = tree_flatten(tuple(tangents))
    if p_tree != t_tree:
        raise ArgumentError(f"{what}: the tangents' structure {t_tree} differs from the primals' {p_tree}")
    names = None
    out = []
    for i, (p, t) in enumerate(zip(p_leaves, t_leaves)):
        pa = aval_of(p)
        if isinstance(t, (int, float)) and not isinstance(t, bool):
            t = np.asarray(t, pa.dtype)
        ta = aval_of(t)
        if pa.dtype.kind != "f":
            out.append(None)  # integer and bool inputs have no tangent
            continue
        if ta.shape != pa.shape or ta.dtype != pa.dtype:
            from tracing import leaf_names
            names = names or leaf_names(fun, primals)
            raise ArgumentError(
                f"{what}: the tangent of {names[i]} is {ta} but its primal is {pa}",
                "Give each tangent its primal's shape and dtype (np.ones_like(x), v.astype(x.dtype)).")
        out.append(t if isinstance(t, Tracer) else np.asarray(t))
    return p_leaves, p_tree, out


def jvp_flat(fun: Callable, primals: list, tangents: list) -> tuple[list, list]:
    """`fun(*primals)` (a list of outputs) and its tangents, for tangents that may be None (symbolic
    zeros, in and out): what transformations of programs (the jit call's JVP rule) use."""
    with entered(JVPTrace(current_trace())) as trace:
        outs = fun(*[p if t is None else JVPTracer(trace, p, t) for p, t in zip(primals, tangents)])
    mine = [isinstance(o, Tracer) and o._trace is trace for o in outs]
    return ([o.primal if m else o for o, m in zip(outs, mine)],
            [o.tangent if m else None for o, m in zip(outs, mine)])


def jvp_body(jaxpr, nonzero: Sequence[bool], instantiate: Sequence[bool] = ()) -> tuple:
    """`(body, consts, out_nonzero)`: the JVP of a body (no constvars) as a body taking the primals, then the
    tangents of the inputs marked `nonzero`, and returning the outputs, then their nonzero tangents (an
    output marked in `instantiate` always gets one: zeros where the JVP gives none). Cached on the jaxpr."""
    key = ("jvp", tuple(nonzero), tuple(instantiate))
    got = jaxpr.cache.get(key)
    if got is not None:
        return got
    n, inst = len(jaxpr.invars), tuple(instantiate) + (False,) * (len(jaxpr.outvars) - len(instantiate))
    out_nonzero: list = []

    def fun(*xs):
        given = iter(xs[n:])
        tangents = [next(given) if nz else None for nz in nonzero]
        outs, touts = jvp_flat(lambda *a: eval_jaxpr(jaxpr, [], a), list(xs[:n]), tangents)
        touts = [zeros_like(o) if t is None and i and aval_of(o).dtype.kind == "f" else t
                 for o, t, i in zip(outs, touts, inst)]
        out_nonzero.extend(t is not None for t in touts)
        return outs + [t for t in touts if t is not None]
    body, consts = trace_body(fun, jaxpr.in_avals + [a for a, nz in zip(jaxpr.in_avals, nonzero) if nz])
    got = jaxpr.cache[key] = (body, consts, tuple(out_nonzero))
    return got


def jvp(fun: Callable, primals: Sequence, tangents: Sequence, has_aux: bool = False):
    """`(fun(*primals), J @ tangents)` in one forward pass (plus aux with has_aux): the Jacobian-vector
    product, tangents with the primals' structure, shapes and dtypes."""
    what = f"jvp({_name(fun)})"
    p_leaves, tree, t_leaves = _check_tangents(what, fun, primals, tangents)
    with name_scope(what), entered(JVPTrace(current_trace())) as trace:
        tracers = [JVPTracer(trace, p, t) if t is not None else p for p, t in zip(p_leaves, t_leaves)]
        out = fun(*tree_unflatten(tree, tracers))
        aux = None
        if has_aux:
            out, aux = _split_aux(out, what)
        out_leaves, out_tree = tree_flatten(out)
        check_leaves(out_leaves, f"{what}: output")
    primal_out, tangent_out = [], []
    for o in out_leaves:
        if isinstance(o, Tracer) and o._trace is trace:
            primal_out.append(o.primal)
            tangent_out.append(o.tangent if o.tangent is not None else _zeros_like(o.primal))
        else:
            primal_out.append(o)
            tangent_out.append(_zeros_like(o))
    # what comes back is the caller's: nothing shares memory with their inputs, tangents, or other results
    taken = memory_ids(p_leaves) | memory_ids(t_leaves)
    primal_out, tangent_out = owned(primal_out, taken), owned(tangent_out, taken)
    result = tree_unflatten(out_tree, primal_out), tree_unflatten(out_tree, tangent_out)
    if has_aux:
        aux_leaves, aux_tree = tree_flatten(aux)
        aux = tree_unflatten(aux_tree, owned([x.primal if isinstance(x, Tracer) and x._trace is trace else x
                                              for x in aux_leaves], taken))
        return (*result, aux)
    return result


def _split_aux(out, what):
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise ArgumentError(f"{what}: with has_aux=True the function must return a pair (output, aux), "
                            f"got {type(out).__name__}")
    return out


def linearize(fun: Callable, *primals):
    """`(fun(*primals), f_jvp)`: the primal computation runs now; the tangent computation is recorded once
    as a program (`f_jvp.jaxpr`), and `f_jvp(*tangents)` evaluates it (as often as wanted; it can be
    jitted, and printed)."""
    what = f"linearize({_name(fun)})"
    check_args(fun, primals, what)
    p_leaves, tree = tree_flatten(tuple(primals))
    with new_trace(with_values=False, record_constants=False) as staged:
        t_in = [staged.new_arg(aval_of(p)) if aval_of(p).dtype.kind == "f" else None for p in p_leaves]
        with name_scope(what), entered(JVPTrace(staged)) as trace:
            tracers = [JVPTracer(trace, p, t) if t is not None else p for p, t in zip(p_leaves, t_in)]
            out = fun(*tree_unflatten(tree, tracers))
            out_leaves, out_tree = tree_flatten(out)
            check_leaves(out_leaves, f"{what}: output")
        primal_out = [o.primal if isinstance(o, Tracer) and o._trace is trace else o for o in out_leaves]
        tangent_out = [o.tangent if isinstance(o, Tracer) and o._trace is trace and o.tangent is not None
                       else _zeros_like(o.primal if isinstance(o, Tracer) and o._trace is trace else o)
                       for o in out_leaves]
        closed = optimize(staged.to_jaxpr(tangent_out))
        # a call (jit, a loop) with known primals and unknown tangents is recorded whole, its primal outputs
        # too: they do not depend on the tangents, so the recorded program at zero tangents gives them
        unknown = [i for i, o in enumerate(primal_out) if isinstance(o, Tracer) and o._trace is staged]
        if unknown:
            known = optimize(staged.to_jaxpr([primal_out[i] for i in unknown]))
            zeros = [np.zeros(v.aval.shape, v.aval.dtype) for v in known.jaxpr.invars]
            for i, v in zip(unknown, eval_jaxpr(known.jaxpr, known.consts, zeros)):
                primal_out[i] = v
    # the tangent program's constants are snapshots: mutating the caller's arrays later changes nothing
    closed = ClosedJaxpr(closed.jaxpr, [np.array(c) if isinstance(c, np.ndarray) else c for c in closed.consts])
    floats = [t is not None for t in t_in]

    def f_jvp(*tangents):
        t_leaves, t_tree = tree_flatten(tuple(tangents))
        if t_tree != tree:
            raise ArgumentError(f"{what}: f_jvp takes tangents structured as the primals ({tree}), got {t_tree}")
        ins = [t for t, f in zip(t_leaves, floats) if f]
        outs = eval_jaxpr(closed.jaxpr, closed.consts, ins)
        return tree_unflatten(out_tree, owned(outs, memory_ids(closed.consts) | memory_ids(t_leaves)))

    f_jvp.jaxpr = closed
    f_jvp.__name__ = f"jvp_of_{_name(fun)}"
    return tree_unflatten(out_tree, owned(primal_out, memory_ids(p_leaves) | memory_ids(closed.consts))), f_jvp


# ---------------------------------------------------------------------------------------------
# Jacobians

def _basis(leaves) -> list:
    """Rows of the identity over the concatenation of `leaves`, split per leaf: leaf k gets an array of
    shape (N,) + leaf.shape in its dtype."""
    sizes = [int(np.prod(aval_of(x).shape, dtype=np.int64)) for x in leaves]
    n, start, out = sum(sizes), 0, []
    for x, k in zip(leaves, sizes):
        a = aval_of(x)
        block = np.zeros((n, k), a.dtype)
        block[start:start + k] = np.eye(k, dtype=a.dtype)
        out.append(block.reshape((n,) + a.shape))
        start += k
    return out


def _blocks(rows, row_leaves, col_leaves, col_first: bool):
    """Split a batch of N rows over the flattened `row_leaves` into Jacobian blocks.

    `rows[c]` is the batched result for column leaf c: shape (N,) + col.shape, N = total size of
    row_leaves. Returns blocks[r][c] with shape col.shape + row.shape when col_first (jacfwd: outputs
    first), else row.shape + col.shape (jacrev)."""
    from . import numpy as mnp
    sizes = [int(np.prod(aval_of(x).shape, dtype=np.int64)) for x in row_leaves]
    starts = np.cumsum([0] + sizes)
    blocks = []
    for r, x in enumerate(row_leaves):
        rshape = aval_of(x).shape
        per_col = []
        for c, y in enumerate(col_leaves):
            cshape = aval_of(y).shape
            part = rows[c][int(starts[r]):int(starts[r + 1])]
            part = mnp.reshape(part, rshape + cshape)
            if col_first:
                nr = len(rshape)
                part = mnp.transpose(part, tuple(range(nr, nr + len(cshape))) + tuple(range(nr)))
            per_col.append(part)
        blocks.append(per_col)
    return blocks


def jacfwd(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The Jacobian of `fun` with respect to args[argnums], by forward mode: one JVP per input entry,
    batched with vmap. Pytrees in and out: the result has the output's structure, each leaf holding the
    input's structure of blocks of shape out.shape + in.shape."""
    from .batching import vmap
    what = f"jacfwd({_name(fun)})"

    def jacfun(*args, **kwargs):
        idx = differentiated_args(fun, args, argnums, what, "have Jacobians")
        dyn = [args[i] for i in idx]
        in_leaves, in_tree = tree_flatten(tuple(dyn))
        f = with_args(fun, args, idx, kwargs)

        def push(*basis_leaves):
            tangents = tree_unflatten(in_tree, list(basis_leaves))
            res = jvp(f, tuple(dyn), tangents, has_aux=has_aux)
            return (res[1], res[2]) if has_aux else res[1]

        batched = vmap(push, out_axes=(0, None) if has_aux else 0)(*_basis(in_leaves))
        tout, aux = batched if has_aux else (batched, None)
        out_leaves, out_tree = tree_flatten(tout)
        # out_leaves[k]: (N,) + out_k.shape, N over the inputs: blocks[in][out] of shape out.shape + in.shape
        unbatched = [ShapedArray(aval_of(o).shape[1:], aval_of(o).dtype) for o in out_leaves]
        blocks = _blocks(out_leaves, in_leaves, unbatched, col_first=True)
        jac = _assemble(out_tree, in_tree, blocks, by_output=True, single=isinstance(argnums, int))
        return (jac, aux) if has_aux else jac

    jacfun.__name__ = what
    jacfun.__wrapped__ = fun  # argument names in errors (inspect.signature follows it)
    return jacfun


def jacrev(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The Jacobian of `fun` with respect to args[argnums], by reverse mode: one VJP per output entry,
    batched with vmap. Same layout as jacfwd."""
    from .batching import vmap
    what = f"jacrev({_name(fun)})"

    def jacfun(*args, **kwargs):
        idx = differentiated_args(fun, args, argnums, what, "have Jacobians")
        dyn = [args[i] for i in idx]
        in_leaves, in_tree = tree_flatten(tuple(dyn))
        f = with_args(fun, args, idx, kwargs)
        res = vjp(f, *dyn, has_aux=has_aux)
        out, vjp_fn = res[0], res[1]
        aux = res[2] if has_aux else None
        out_leaves, out_tree = tree_flatten(out)
        for o in out_leaves:
            if aval_of(o).dtype.kind != "f":
                raise GradTypeError(f"{what}: an output {aval_of(o)} has dtype {aval_of(o).dtype.name}; only float "
                                    "outputs have Jacobians",
                                    "Return float values (x.astype(np.float64)), or return integer results as aux "
                                    "(has_aux=True).")

        def pull(*basis_leaves):
            return tree_flatten(vjp_fn(tree_unflatten(out_tree, list(basis_leaves))))[0]

        grads = vmap(pull)(*_basis(out_leaves))  # per input leaf: (M,) + in.shape, M over the outputs
        blocks = _blocks(grads, out_leaves, in_leaves, col_first=False)
        jac = _assemble(out_tree, in_tree, blocks, by_output=False, single=isinstance(argnums, int))
        return (jac, aux) if has_aux else jac

    jacfun.__name__ = what
    jacfun.__wrapped__ = fun
    return jacfun


def _assemble(out_tree, in_tree, blocks, by_output: bool, single: bool):
    """The Jacobian pytree: the output's structure, each leaf the input's structure (a tuple over argnums,
    unwrapped when argnums is an int)."""
    n_out, n_in = out_tree.num_leaves, in_tree.num_leaves
    per_out = []
    for k in range(n_out):
        cols = [blocks[j][k] if by_output else blocks[k][j] for j in range(n_in)]
        inner = tree_unflatten(in_tree, cols)
        per_out.append(inner[0] if single else inner)
    return tree_unflatten(out_tree, per_out)


def hessian(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The Hessian of a scalar `fun`: jacfwd(jacrev(fun)) (forward over reverse)."""
    h = jacfwd(jacrev(fun, argnums, has_aux), argnums, has_aux)
    h.__name__ = f"hessian({_name(fun)})"
    h.__wrapped__ = fun
    return h


__all__ = ["JVPTrace", "JVPTracer", "jvp", "jvp_flat", "linearize", "jacfwd", "jacrev", "hessian"]
