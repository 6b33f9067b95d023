"""Control flow as primitives: `cond` (and `switch`), `while_loop`, `fori_loop`, `scan` (and `map`).

Each is one primitive whose bodies are Jaxprs held in its params, traced once whatever the number of
iterations (a 10,000-step scan is one body in the IR), found by every tool that walks IR through
`subjaxprs`. A body has no constvars: what it closes over is passed as leading operands (`as_body`).

Each block: the shape rule (which checks the bodies' types against the operands: a carry that changes
type is an error), the numpy implementation, the lowering to `jax.lax` (so XLA sees one loop), the VJP
(a forward part returning residuals, and a backward part), the JVP and batching rules, and a DCE rule.
The wrappers at the end take JAX's signatures and pytrees.
"""
from __future__ import annotations

import functools
from typing import Callable, Sequence

import numpy as np
import optree

from tracing import (DTypeError, Jaxpr, JaxprTypeError, Primitive, ShapedArray, Tracer, Var, aval_of, check_leaves,
                     dce, eval_jaxpr, name_scope, straight_line, tree_flatten, tree_unflatten)

from .autodiff import MissingRuleError, memory_ids, owned, trace_body, vjp_split
from .batching import batch_body
from .compiler import lower_jaxpr
from .forward import jvp_body
from .primitives import add, convert_element_type, eq, ne, reduce_max, reshape, select
from .primitives.elementwise import max_, min_
from .primitives._base import VJP, lax
from .primitives._transforms import batch_size, bdim_at_front, instantiate, moveaxis, zeros_like

__all__ = ["cond", "switch", "while_loop", "fori_loop", "scan", "map_", "cond_p", "while_p", "scan_p"]


# ---------------------------------------------------------------------------------------------
# Shared: bodies taking every body's constants, reordering a body's inputs and outputs, running one

def _uniform(pairs: Sequence) -> tuple:
    """Bodies `(body, consts)` that each take their own constants first, made to take every body's
    constants (all of them, in order) then the common operands: each ignores the others' (fresh unused
    variables; nothing is retraced)."""
    consts = [c for _, cs in pairs for c in cs]
    avals = [aval_of(c) for c in consts]
    out, at = [], 0
    for body, cs in pairs:
        n = len(cs)
        invars = [Var(a) for a in avals[:at]] + body.invars[:n] + [Var(a) for a in avals[at + n:]] + body.invars[n:]
        out.append(Jaxpr([], invars, body.outvars, body.eqns))
        at += n
    return tuple(out), consts


def _reorder(body: Jaxpr, ins: Sequence[int], outs: Sequence[int]) -> Jaxpr:
    """The same body with its inputs and outputs in another order (positions into the old lists)."""
    return Jaxpr([], [body.invars[i] for i in ins], [body.outvars[j] for j in outs], body.eqns)


def _groups(*sizes) -> list:
    """Consecutive ranges of these sizes, as lists of positions."""
    out, at = [], 0
    for n in sizes:
        out.append(list(range(at, at + n)))
        at += n
    return out


def _run(body: Jaxpr, args) -> list:
    return straight_line(body)(*args)


def _lowered(body: Jaxpr, *args):
    return lower_jaxpr(body, list(args))


def _is_float(a) -> bool:
    return a.dtype.kind == "f"


def _check_types(what: str, got: Sequence, want: Sequence, names: Sequence[str]) -> None:
    for g, w, n in zip(got, want, names):
        if g != w:
            raise JaxprTypeError(f"{what}: {n} has type {g} but must keep the type {w}",
                                 "A loop carry (or a branch output) keeps its shape and dtype: cast with "
                                 ".astype(...) or start from a value of the final type (0.0, not 0).")


# ---------------------------------------------------------------------------------------------
# cond: branches[index](*operands), index clamped into range (lax.switch)

def _cond_shape(index, *args, branches):
    if index.shape != () or index.dtype.kind not in "iub":
        raise DTypeError(f"cond: the branch index must be an integer or bool scalar, got {index}",
                         "Reduce the predicate to one value (mnp.all, mnp.any), or use mnp.where for an "
                         "elementwise choice.")
    for k, b in enumerate(branches):
        _check_types("cond", list(args), b.in_avals, [f"operand {i} of branch {k}" for i in range(len(args))])
        _check_types("cond", b.out_avals, branches[0].out_avals, [f"output {i} of branch {k}"
                                                                  for i in range(len(b.outvars))])
    return branches[0].out_avals


def _cond_impl(index, *args, branches):
    k = min(max(int(index), 0), len(branches) - 1)
    return owned([np.asarray(o) for o in _run(branches[k], args)], memory_ids(args))


def _cond_lower(index, *args, branches):
    return lax.switch(lax.convert_element_type(index, np.int32),
                      [functools.partial(_lowered, b) for b in branches], *args)


def _cond_jvp(primals, tangents, *, branches):
    index, args = primals[0], primals[1:]
    nonzero = tuple(t is not None for t in tangents[1:])
    out_nz = [False] * len(branches[0].outvars)
    for b in branches:  # a tangent where any branch has one
        out_nz = [a or c for a, c in zip(out_nz, jvp_body(b, nonzero)[2])]
    traced = [jvp_body(b, nonzero, out_nz) for b in branches]
    new, consts = _uniform([(body, cs) for body, cs, _ in traced])
    outs = cond_p.bind(index, *consts, *args, *[t for t in tangents[1:] if t is not None], branches=new)
    n, nz = len(out_nz), traced[0][2]
    given = iter(outs[n:])
    return outs[:n], [next(given) if z else None for z in nz]


def _cond_fwd(parent, prim, args, params, in_avals, out_avals):
    """Each branch's forward program, its outputs then every branch's residuals (zeros for the others')."""
    branches, n_out = params["branches"], len(out_avals)
    splits = [vjp_split(b) for b in branches]
    res_avals = [a for s in splits for a in s.res_avals]
    pairs, at = [], 0
    for s in splits:
        fwd, fconsts = s.fwd
        lo, hi = at, at + len(s.res_avals)

        def fun(*ops, fwd=fwd, fconsts=fconsts, lo=lo, hi=hi):
            outs = eval_jaxpr(fwd, [], list(fconsts) + list(ops))
            return (outs[:n_out] + [zeros_like(a) for a in res_avals[:lo]] + outs[n_out:]
                    + [zeros_like(a) for a in res_avals[hi:]])
        pairs.append(trace_body(fun, in_avals[1:]))
        at = hi
    new, consts = _uniform(pairs)
    outs = parent.process(cond_p, [args[0], *consts, *args[1:]], dict(branches=new))
    return outs[:n_out], (args[0], list(args[1:]), outs[n_out:])


def _cond_bwd(eqn, res, cts, wanted):
    index, ops, res_all = res
    want, has_ct = tuple(wanted[1:]), tuple(c is not None for c in cts)
    if not any(want) or not any(has_ct):
        return [None] * len(wanted)
    splits = [vjp_split(b) for b in eqn.params["branches"]]
    avals = [aval_of(x) for x in ops + res_all] + [v.aval for v, c in zip(eqn.outvars, cts) if c is not None]
    n_ops, n_res = len(ops), len(res_all)
    pairs, at = [], 0
    for s in splits:
        bwd, bconsts = s.backward(want, has_ct)
        lo, hi = at, at + len(s.res_avals)

        def fun(*xs, bwd=bwd, bconsts=bconsts, lo=lo, hi=hi):
            mine = list(xs[n_ops + lo:n_ops + hi])
            return eval_jaxpr(bwd, [], list(bconsts) + list(xs[:n_ops]) + mine + list(xs[n_ops + n_res:]))
        pairs.append(trace_body(fun, avals))
        at = hi
    new, consts = _uniform(pairs)
    got = iter(cond_p.bind(index, *consts, *ops, *res_all, *[c for c in cts if c is not None], branches=new))
    return [None] + [next(got) if w else None for w in want]


def _cond_batch(args, dims, *, branches):
    index, ops, idim, odims = args[0], list(args[1:]), dims[0], tuple(dims[1:])
    size = batch_size(args, dims)
    n_out = len(branches[0].outvars)
    if idim is None:  # one branch for the whole batch: batch each branch alike
        force = [False] * n_out
        for b in branches:
            force = [f or d is not None for f, d in zip(force, batch_body(b, odims, size)[2])]
        new, consts = _uniform([batch_body(b, odims, size, force)[:2] for b in branches])
        return cond_p.bind(index, *consts, *ops, branches=new), [0 if f else None for f in force]
    # a branch per example: every branch runs on the whole batch, then each example's result is selected
    index = moveaxis(index, idim, 0)
    if index.dtype.kind == "b":
        index = convert_element_type(index, np.int32)
    last = np.asarray(len(branches) - 1, index.dtype)
    index = min_(max_(index, np.zeros((), index.dtype)), last)
    results = []
    for b in branches:
        body, consts, _ = batch_body(b, odims, size, (True,) * n_out)
        results.append(eval_jaxpr(body, [], list(consts) + ops))
    outs = results[-1]
    for k in range(len(branches) - 2, -1, -1):
        pick = eq(index, np.asarray(k, index.dtype))
        outs = [select(reshape(pick, (size,) + (1,) * (len(o.shape) - 1)), r, o) for r, o in zip(results[k], outs)]
    return outs, [0] * n_out


def _cond_dce(eqn, used):
    """Drop the outputs nothing reads from every branch, then the operands no branch reads."""
    bodies = [dce(Jaxpr([], b.invars, [v for v, u in zip(b.outvars, used) if u], b.eqns))
              for b in eqn.params["branches"]]
    reads = [_reads(b) for b in bodies]
    keep = [any(b.invars[i] in r for b, r in zip(bodies, reads)) for i in range(len(bodies[0].invars))]
    bodies = tuple(Jaxpr([], [v for v, k in zip(b.invars, keep) if k], b.outvars, b.eqns) for b in bodies)
    return eqn.replace(invars=[eqn.invars[0]] + [v for v, k in zip(eqn.invars[1:], keep) if k],
                       outvars=[v for v, u in zip(eqn.outvars, used) if u], params=dict(eqn.params, branches=bodies))


def _reads(body: Jaxpr) -> set:
    got = {v for e in body.eqns for v in e.invars if type(v) is Var}
    got.update(v for v in body.outvars if type(v) is Var)
    return got


cond_p = Primitive("cond", _cond_shape, _cond_impl, multiple_results=True)
cond_p.rules["lower"] = _cond_lower
cond_p.rules["jvp"] = _cond_jvp
cond_p.rules["vjp"] = VJP(_cond_bwd, fwd=_cond_fwd)
cond_p.rules["batch"] = _cond_batch
cond_p.rules["dce"] = _cond_dce


# ---------------------------------------------------------------------------------------------
# while_loop: carry = body(carry) while cond(carry); operands: cond's constants, body's, the carry

def _while_split(args, cond_nconsts, body_nconsts):
    a, b = cond_nconsts, cond_nconsts + body_nconsts
    return list(args[:a]), list(args[a:b]), list(args[b:])


def _while_shape(*avals, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cc, bc, carry = _while_split(avals, cond_nconsts, body_nconsts)
    names = [f"carry {i}" for i in range(len(carry))]
    _check_types("while_loop cond_fun", cc + carry, cond_jaxpr.in_avals, [f"input {i}" for i in range(len(cc))] + names)
    if cond_jaxpr.out_avals != [ShapedArray((), np.dtype(bool))]:
        raise JaxprTypeError(f"while_loop: cond_fun must return one bool scalar, got "
                             f"{[str(a) for a in cond_jaxpr.out_avals]}",
                             "Return a comparison of scalars (i < n), reduced with mnp.all/mnp.any if needed.")
    _check_types("while_loop body_fun", bc + carry, body_jaxpr.in_avals, [f"input {i}" for i in range(len(bc))] + names)
    _check_types("while_loop body_fun", body_jaxpr.out_avals, carry, [f"output carry {i}" for i in range(len(carry))])
    return list(carry)


def _while_impl(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cc, bc, carry = _while_split(args, cond_nconsts, body_nconsts)
    test, step = straight_line(cond_jaxpr), straight_line(body_jaxpr)
    while bool(test(*cc, *carry)[0]):
        carry = step(*bc, *carry)
    return owned([np.asarray(c) for c in carry], memory_ids(args))


def _while_lower(*args, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cc, bc, carry = _while_split(args, cond_nconsts, body_nconsts)
    return list(lax.while_loop(lambda c: lower_jaxpr(cond_jaxpr, cc + list(c))[0],
                               lambda c: tuple(lower_jaxpr(body_jaxpr, bc + list(c))), tuple(carry)))


def _with_unused(body: Jaxpr, avals: Sequence, at: int) -> Jaxpr:
    """body taking extra inputs of these avals (unused) inserted at position `at`."""
    return Jaxpr([], body.invars[:at] + [Var(a) for a in avals] + body.invars[at:], body.outvars, body.eqns)


def _carry_fixpoint(step: Callable, start: list) -> list:
    """The least pattern >= start with step(pattern) <= pattern (which carries have a tangent, are batched)."""
    pattern = list(start)
    while True:
        new = [p or q for p, q in zip(pattern, step(pattern))]
        if new == pattern:
            return pattern
        pattern = new


def _while_jvp(primals, tangents, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    cc, bc, carry = _while_split(primals, cond_nconsts, body_nconsts)
    _, bct, ct = _while_split(tangents, cond_nconsts, body_nconsts)
    nz_b = [t is not None for t in bct]
    floats = [_is_float(aval_of(c)) for c in carry]
    nz_c = _carry_fixpoint(lambda nz: jvp_body(body_jaxpr, tuple(nz_b + nz), tuple(nz))[2],
                           [t is not None and f for t, f in zip(ct, floats)])
    body, consts, _ = jvp_body(body_jaxpr, tuple(nz_b + nz_c), tuple(nz_c))
    k, nb, nk = len(consts), len(bc), len(carry)
    n_bt, n_ct = sum(nz_b), sum(nz_c)
    ks, b, c, bt, tc = _groups(k, nb, nk, n_bt, n_ct)
    body = _reorder(body, ks + b + bt + c + tc, range(len(body.outvars)))
    test = _with_unused(cond_jaxpr, [aval_of(x) for x, z in zip(carry, nz_c) if z], len(cond_jaxpr.invars))
    carry_t = [instantiate(t, x) for t, x, z in zip(ct, carry, nz_c) if z]
    outs = while_p.bind(*cc, *consts, *bc, *[t for t in bct if t is not None], *carry, *carry_t,
                        cond_jaxpr=test, body_jaxpr=body, cond_nconsts=cond_nconsts,
                        body_nconsts=k + nb + n_bt)
    given = iter(outs[nk:])
    return outs[:nk], [next(given) if z else None for z in nz_c]


def _while_fwd(parent, prim, args, params, in_avals, out_avals):
    """The loop as it is, no residuals: reverse mode fails only where a cotangent must flow back through
    it (`_while_bwd`), as in JAX, so a loop whose float results are not differentiated (an integer count,
    a value under stop_gradient) does not stop grad."""
    return parent.process(prim, args, params), None


def _while_bwd(eqn, res, cts, wanted):
    if not any(wanted) or all(c is None for c in cts):
        return [None] * len(wanted)
    raise MissingRuleError(
        "Reverse-mode differentiation does not work for lax.while_loop or lax.fori_loop with traced "
        f"bounds (carries {', '.join(str(v.aval) for v in eqn.outvars)}): the number of iterations is known "
        "only when the loop runs, so the values the backward pass needs cannot be laid out ahead of it",
        "Use lax.scan (a fixed number of steps), or lax.fori_loop with Python-int bounds (which is a scan); "
        "forward mode (mg.jvp, mg.jacfwd) works through while_loop.")


def _while_batch(args, dims, *, cond_jaxpr, body_jaxpr, cond_nconsts, body_nconsts):
    size = batch_size(args, dims)
    cc, bc, carry = _while_split(args, cond_nconsts, body_nconsts)
    ccd, bcd, cd = (tuple(x) for x in _while_split(dims, cond_nconsts, body_nconsts))

    def at0(pattern):
        return tuple(0 if p else None for p in pattern)
    batched = _carry_fixpoint(lambda b: [d is not None for d in batch_body(body_jaxpr, bcd + at0(b), size, b)[2]],
                              [d is not None for d in cd])
    pred_batched = batch_body(cond_jaxpr, ccd + at0(batched), size)[2][0] is not None
    if pred_batched:  # examples finish at different steps: every carry is batched, finished ones stay put
        batched = [True] * len(carry)
    carry = [bdim_at_front(c, d, size) if b else c for c, d, b in zip(carry, cd, batched)]
    cbody, cconsts, _ = batch_body(cond_jaxpr, ccd + at0(batched), size)
    bbody, bconsts, _ = batch_body(body_jaxpr, bcd + at0(batched), size, batched)
    if not pred_batched:
        outs = while_p.bind(*cconsts, *cc, *bconsts, *bc, *carry, cond_jaxpr=cbody, body_jaxpr=bbody,
                            cond_nconsts=len(cconsts) + len(cc), body_nconsts=len(bconsts) + len(bc))
        return outs, list(at0(batched))
    n_cc, n_bc = len(cconsts) + len(cc), len(bconsts) + len(bc)
    avals = [aval_of(x) for x in [*cconsts, *cc, *bconsts, *bc, *carry]]

    def any_running(*xs):  # the loop runs while any example's predicate holds
        pred = eval_jaxpr(cbody, [], list(xs))[0]
        return [ne(reduce_max(convert_element_type(pred, np.int32), (0,)), np.int32(0))]

    def step(*xs):  # examples whose predicate fails keep their carry
        c_in, carry_in = list(xs[:n_cc]), list(xs[n_cc + n_bc:])
        pred = eval_jaxpr(cbody, [], c_in + carry_in)[0]
        new = eval_jaxpr(bbody, [], list(xs[n_cc:]))
        return [select(reshape(pred, (size,) + (1,) * (len(c.shape) - 1)), n, c) for n, c in zip(new, carry_in)]
    test, tconsts = trace_body(any_running, avals[:n_cc] + avals[n_cc + n_bc:])
    body, sconsts = trace_body(step, avals)
    outs = while_p.bind(*tconsts, *cconsts, *cc, *sconsts, *cconsts, *cc, *bconsts, *bc, *carry,
                        cond_jaxpr=test, body_jaxpr=body, cond_nconsts=len(tconsts) + n_cc,
                        body_nconsts=len(sconsts) + n_cc + n_bc)
    return outs, [0] * len(carry)


while_p = Primitive("while", _while_shape, _while_impl, multiple_results=True)
while_p.rules["lower"] = _while_lower
while_p.rules["jvp"] = _while_jvp
while_p.rules["vjp"] = VJP(_while_bwd, fwd=_while_fwd)
while_p.rules["batch"] = _while_batch


# ---------------------------------------------------------------------------------------------
# scan: (carry, y_i) = body(consts, carry, x_i) over the leading axis of the xs; ys stacked

def _scan_split(args, num_consts, num_carry):
    return list(args[:num_consts]), list(args[num_consts:num_consts + num_carry]), list(args[num_consts + num_carry:])


def _scan_shape(*avals, jaxpr, num_consts, num_carry, length, reverse):
    consts, carry, xs = _scan_split(avals, num_consts, num_carry)
    for i, x in enumerate(xs):
        if x.shape[:1] != (length,):
            raise JaxprTypeError(f"scan: xs {i} has shape {x.shape}, not a leading axis of the length {length}",
                                 "Every array scanned over has the same leading length.")
    slices = [ShapedArray(x.shape[1:], x.dtype) for x in xs]
    names = ([f"constant {i}" for i in range(len(consts))] + [f"carry {i}" for i in range(len(carry))]
             + [f"x {i}" for i in range(len(xs))])
    _check_types("scan body", consts + carry + slices, jaxpr.in_avals, names)
    outs = jaxpr.out_avals
    _check_types("scan body", outs[:num_carry], carry, [f"output carry {i}" for i in range(num_carry)])
    return list(carry) + [ShapedArray((length,) + a.shape, a.dtype) for a in outs[num_carry:]]


def _scan_impl(*args, jaxpr, num_consts, num_carry, length, reverse):
    consts, carry, xs = _scan_split(args, num_consts, num_carry)
    step = straight_line(jaxpr)
    ys = [np.empty((length,) + a.shape, a.dtype) for a in jaxpr.out_avals[num_carry:]]
    for i in (range(length - 1, -1, -1) if reverse else range(length)):
        out = step(*consts, *carry, *[x[i] for x in xs])
        carry = out[:num_carry]
        for buf, y in zip(ys, out[num_carry:]):
            buf[i] = y
    return owned([np.asarray(c) for c in carry], memory_ids(args)) + ys


def _scan_lower(*args, jaxpr, num_consts, num_carry, length, reverse):
    consts, carry, xs = _scan_split(args, num_consts, num_carry)

    def step(c, x):
        out = lower_jaxpr(jaxpr, consts + list(c) + list(x))
        return out[:num_carry], out[num_carry:]
    carry, ys = lax.scan(step, list(carry), list(xs), length=length, reverse=reverse)
    return list(carry) + list(ys)


def _scan_jvp(primals, tangents, *, jaxpr, num_consts, num_carry, length, reverse):
    nc, nk = num_consts, num_carry
    consts, carry, xs = _scan_split(primals, nc, nk)
    tc, tk, tx = _scan_split(tangents, nc, nk)
    nz_c, nz_x = [t is not None for t in tc], [t is not None for t in tx]
    floats = [_is_float(a) for a in jaxpr.in_avals[nc:nc + nk]]
    nz_k = _carry_fixpoint(lambda nz: jvp_body(jaxpr, tuple(nz_c + nz + nz_x), tuple(nz))[2][:nk],
                           [t is not None and f for t, f in zip(tk, floats)])
    body, bconsts, out_nz = jvp_body(jaxpr, tuple(nz_c + nz_k + nz_x), tuple(nz_k))
    ny = len(jaxpr.outvars) - nk
    n_tc, n_tk, n_tx, n_ty = sum(nz_c), sum(nz_k), sum(nz_x), sum(out_nz[nk:])
    ks, c, k, x, ct, kt, xt = _groups(len(bconsts), nc, nk, len(xs), n_tc, n_tk, n_tx)
    ok, oy, okt, oyt = _groups(nk, ny, n_tk, n_ty)
    body = _reorder(body, ks + c + ct + k + kt + x + xt, ok + okt + oy + oyt)
    carry_t = [instantiate(t, p) for t, p, z in zip(tk, carry, nz_k) if z]
    outs = scan_p.bind(*bconsts, *consts, *[t for t in tc if t is not None], *carry, *carry_t, *xs,
                       *[t for t in tx if t is not None], jaxpr=body, num_consts=len(bconsts) + nc + n_tc,
                       num_carry=nk + n_tk, length=length, reverse=reverse)
    out_carry, out_kt, out_y, out_yt = (outs[:nk], iter(outs[nk:nk + n_tk]), outs[nk + n_tk:nk + n_tk + ny],
                                        iter(outs[nk + n_tk + ny:]))
    return (out_carry + out_y, [next(out_kt) if z else None for z in nz_k]
            + [next(out_yt) if z else None for z in out_nz[nk:]])


def _scan_fwd(parent, prim, args, params, in_avals, out_avals):
    """One forward scan of the body's forward program: the outputs, and stacked per step the residuals
    and the carry each step began with (the backward program reads its step's inputs)."""
    jaxpr, nc, nk = params["jaxpr"], params["num_consts"], params["num_carry"]
    consts, carry, xs = _scan_split(args, nc, nk)
    fwd, fconsts = vjp_split(jaxpr).fwd

    def step(*ins):
        return eval_jaxpr(fwd, [], list(fconsts) + list(ins)) + list(ins[nc:nc + nk])
    slices = [ShapedArray(a.shape[1:], a.dtype) for a in in_avals[nc + nk:]]
    body, bconsts = trace_body(step, in_avals[:nc + nk] + slices)
    outs = parent.process(scan_p, [*bconsts, *consts, *carry, *xs],
                          dict(params, jaxpr=body, num_consts=len(bconsts) + nc))
    n = len(out_avals)
    return outs[:n], (consts, xs, outs[n:])


def _scan_bwd(eqn, res, cts, wanted):
    """A reverse scan of the body's backward program over the stacked residuals; the constants'
    cotangents are summed over the steps in its carry, the carry's cotangent flows from step to step."""
    jaxpr, nc, nk = eqn.params["jaxpr"], eqn.params["num_consts"], eqn.params["num_carry"]
    length, reverse = eqn.params["length"], eqn.params["reverse"]
    consts, xs, stacked = res
    split = vjp_split(jaxpr)
    in_avals = jaxpr.in_avals
    nx, nr = len(xs), len(split.res_avals)
    floats = [_is_float(a) for a in in_avals]
    want_c = [w and f for w, f in zip(wanted[:nc], floats[:nc])]
    want_k = floats[nc:nc + nk]  # inside the loop every float carry has a cotangent: the next step's
    want_x = [w and f for w, f in zip(wanted[nc + nk:], floats[nc + nk:])]
    has_y = [c is not None for c in cts[nk:]]
    if not (any(want_c) or any(wanted[nc:nc + nk]) or any(want_x)):
        return [None] * len(wanted)
    bwd, bconsts = split.backward(tuple(want_c + want_k + want_x), tuple(want_k + has_y))
    res_st, carries_st = stacked[:nr], stacked[nr:]
    n_acc, n_kt, n_b = sum(want_c), sum(want_k), len(bconsts)
    acc0 = [zeros_like(a) for a, w in zip(in_avals[:nc], want_c) if w]
    ct0 = [c if c is not None else zeros_like(a) for c, a, f in zip(cts[:nk], in_avals[nc:nc + nk], want_k) if f]
    ct_ys = [c for c in cts[nk:] if c is not None]

    def step(*vs):
        b, c, acc, ctk, k_in, x, r, cy = (list(vs[i[0]:i[-1] + 1]) if i else [] for i in
                                          _groups(n_b, nc, n_acc, n_kt, nk, nx, nr, len(ct_ys)))
        grads = eval_jaxpr(bwd, [], b + c + k_in + x + r + ctk + cy)
        g_c, g_k, g_x = grads[:n_acc], grads[n_acc:n_acc + n_kt], grads[n_acc + n_kt:]
        return [add(a, g) for a, g in zip(acc, g_c)] + g_k + g_x
    slice_of = [ShapedArray(a.shape[1:], a.dtype) for a in map(aval_of, carries_st + xs + res_st + ct_ys)]
    avals = [aval_of(v) for v in bconsts + consts + acc0 + ct0] + slice_of
    body, sconsts = trace_body(step, avals)
    outs = scan_p.bind(*sconsts, *bconsts, *consts, *acc0, *ct0, *carries_st, *xs, *res_st, *ct_ys, jaxpr=body,
                       num_consts=len(sconsts) + n_b + nc, num_carry=n_acc + n_kt, length=length,
                       reverse=not reverse)
    g_c, g_k, g_x = iter(outs[:n_acc]), iter(outs[n_acc:n_acc + n_kt]), iter(outs[n_acc + n_kt:])
    g_carry = [next(g_k) if f else None for f in want_k]
    return ([next(g_c) if w else None for w in want_c] + [g if w else None for g, w in zip(g_carry, wanted[nc:nc + nk])]
            + [next(g_x) if w else None for w in want_x])


def _scan_batch(args, dims, *, jaxpr, num_consts, num_carry, length, reverse):
    size = batch_size(args, dims)
    nc, nk = num_consts, num_carry
    consts, carry, xs = _scan_split(args, nc, nk)
    cd, kd, xd = (tuple(d) for d in _scan_split(dims, nc, nk))
    # the xs are scanned along axis 0: a batch there moves to axis 1; in a slice the batch is one axis less
    xs = [moveaxis(x, 0, 1) if d == 0 else x for x, d in zip(xs, xd)]
    sd = tuple(None if d is None else max(d, 1) - 1 for d in xd)

    def at0(pattern):
        return tuple(0 if p else None for p in pattern)
    ny = len(jaxpr.outvars) - nk
    batched = _carry_fixpoint(
        lambda b: [d is not None for d in batch_body(jaxpr, cd + at0(b) + sd, size, tuple(b) + (False,) * ny)[2][:nk]],
        [d is not None for d in kd])
    body, bconsts, od = batch_body(jaxpr, cd + at0(batched) + sd, size, tuple(batched) + (False,) * ny)
    carry = [bdim_at_front(c, d, size) if b else c for c, d, b in zip(carry, kd, batched)]
    outs = scan_p.bind(*bconsts, *consts, *carry, *xs, jaxpr=body, num_consts=len(bconsts) + nc, num_carry=nk,
                       length=length, reverse=reverse)
    return outs, list(at0(batched)) + [None if d is None else 1 for d in od[nk:]]


def _scan_dce(eqn, used):
    """Drop the ys nothing reads, the carries nothing needs (their output unused and no kept value reads
    them), and the constants and xs the smaller body does not read."""
    jaxpr, nc, nk = eqn.params["jaxpr"], eqn.params["num_consts"], eqn.params["num_carry"]
    carry_in = jaxpr.invars[nc:nc + nk]

    def pruned(keep_k):
        body = dce(Jaxpr([], jaxpr.invars, [v for v, u in zip(jaxpr.outvars, keep_k + used[nk:]) if u], jaxpr.eqns))
        return body, _reads(body)
    keep_k = _carry_fixpoint(lambda k: [v in pruned(k)[1] for v in carry_in], list(used[:nk]))
    body, reads = pruned(keep_k)
    keep_in = [v in reads for v in jaxpr.invars[:nc]] + keep_k + [v in reads for v in jaxpr.invars[nc + nk:]]
    body = Jaxpr([], [v for v, k in zip(jaxpr.invars, keep_in) if k], body.outvars, body.eqns)
    return eqn.replace(invars=[v for v, k in zip(eqn.invars, keep_in) if k],
                       outvars=[v for v, u in zip(eqn.outvars, keep_k + list(used[nk:])) if u],
                       params=dict(eqn.params, jaxpr=body, num_consts=sum(keep_in[:nc]), num_carry=sum(keep_k)))


scan_p = Primitive("scan", _scan_shape, _scan_impl, multiple_results=True)
scan_p.rules["lower"] = _scan_lower
scan_p.rules["jvp"] = _scan_jvp
scan_p.rules["vjp"] = VJP(_scan_bwd, fwd=_scan_fwd)
scan_p.rules["batch"] = _scan_batch
scan_p.rules["dce"] = _scan_dce


# ---------------------------------------------------------------------------------------------
# The wrappers: JAX's signatures, pytrees in and out

def _paths(tree_value, prefix: str) -> list[str]:
    return [prefix + "".join(f"[{p!r}]" for p in path) for path in optree.tree_paths(tree_value, none_is_leaf=False)]


def _trace_fun(fun: Callable, trees: Sequence, avals: Sequence, what: str):
    """`(body, consts, out_value_tree, out_leaf_avals)`: fun applied to these pytrees (given as flat avals
    of their leaves), traced once."""
    got = []

    def flat(*leaves):
        args, at = [], 0
        for tree in trees:
            args.append(tree_unflatten(tree, leaves[at:at + tree.num_leaves]))
            at += tree.num_leaves
        out = fun(*args)
        out_leaves, out_tree = tree_flatten(out)
        check_leaves(out_leaves, f"output of {what}")
        got.append(out_tree)
        return out_leaves
    with name_scope(what):
        body, consts = trace_body(flat, avals)
    return body, consts, got[0]


def _leaves(value, what: str) -> tuple:
    leaves, tree = tree_flatten(value)
    check_leaves(leaves, what)
    return leaves, tree, [aval_of(x) for x in leaves]


def switch(index, branches: Sequence[Callable], *operands):
    """`branches[index](*operands)`, the index clamped into range; one equation holding every branch."""
    branches = list(branches)
    if not branches:
        raise ValueError("switch: give at least one branch")
    leaves, tree, avals = _leaves(operands, "operands of switch")
    index = np.asarray(index) if not isinstance(index, Tracer) else index
    if index.shape != () or np.dtype(index.dtype).kind not in "iub":
        raise DTypeError(f"switch: the index must be an integer scalar, got {aval_of(index)}",
                         "Reduce it to one value; for an elementwise choice use mnp.where.")
    index = convert_element_type(index, np.int32) if np.dtype(index.dtype) != np.int32 else index
    traced = [_trace_fun(lambda ops, b=b: b(*ops), [tree], avals, f"branch {k}") for k, b in enumerate(branches)]
    out_tree = traced[0][2]
    for k, (body, _, t) in enumerate(traced):
        if t != out_tree:
            raise JaxprTypeError(f"switch: branch {k} returns {t}, but branch 0 returns {out_tree}",
                                 "Every branch returns the same structure of arrays, with the same shapes "
                                 "and dtypes.")
        _check_types("switch", body.out_avals, traced[0][0].out_avals,
                     [f"branch {k}'s output {i}" for i in range(len(body.outvars))])
    new, consts = _uniform([(body, cs) for body, cs, _ in traced])
    return tree_unflatten(out_tree, cond_p.bind(index, *consts, *leaves, branches=new))


def cond(pred, true_fun: Callable, false_fun: Callable, *operands):
    """`true_fun(*operands)` if pred else `false_fun(*operands)`, pred a scalar (bool or number)."""
    pred = np.asarray(pred) if not isinstance(pred, Tracer) else pred
    if pred.shape != ():
        raise DTypeError(f"cond: the predicate must be a scalar, got {aval_of(pred)}",
                         "Reduce it with mnp.all/mnp.any, or use mnp.where for an elementwise choice.")
    if np.dtype(pred.dtype).kind != "b":
        pred = ne(pred, np.zeros((), pred.dtype))
    return switch(convert_element_type(pred, np.int32), [false_fun, true_fun], *operands)


def while_loop(cond_fun: Callable, body_fun: Callable, init_val):
    """`val = body_fun(val)` while `cond_fun(val)`; val a pytree whose leaves keep their types."""
    leaves, tree, avals = _leaves(init_val, "init_val of while_loop")
    names = _paths(init_val, "init_val")
    cbody, cconsts, ctree = _trace_fun(cond_fun, [tree], avals, "while_loop cond_fun")
    if ctree.num_leaves != 1 or cbody.out_avals[0] != ShapedArray((), np.dtype(bool)):
        raise JaxprTypeError(f"while_loop: cond_fun must return one bool scalar, got {cbody.out_avals}",
                             "Return a comparison of scalars (i < n), reduced with mnp.all/mnp.any if needed.")
    bbody, bconsts, btree = _trace_fun(body_fun, [tree], avals, "while_loop body_fun")
    if btree != tree:
        raise JaxprTypeError(f"while_loop: body_fun returns {btree}, but the loop value is {tree}",
                             "body_fun returns a value of the same structure as init_val.")
    _check_types("while_loop: body_fun's output", bbody.out_avals, avals, names)
    outs = while_p.bind(*cconsts, *bconsts, *leaves, cond_jaxpr=cbody, body_jaxpr=bbody,
                        cond_nconsts=len(cconsts), body_nconsts=len(bconsts))
    return tree_unflatten(tree, outs)


def _static_int(x):
    """x as a Python int if it is a concrete integer scalar, else None."""
    if isinstance(x, Tracer):
        return None
    a = np.asarray(x)
    return int(a) if a.shape == () and a.dtype.kind in "iu" else None


def fori_loop(lower, upper, body_fun: Callable, init_val):
    """`val = body_fun(i, val)` for i in [lower, upper): a scan when the bounds are concrete integers
    (differentiable in reverse), else a while_loop."""
    lo, hi = _static_int(lower), _static_int(upper)
    # a Python int bound takes the other bound's dtype (JAX's weak typing); two Python ints: int64
    typed = [aval_of(b).dtype for b in (lower, upper) if not isinstance(b, int)]
    dtype = np.result_type(*typed) if typed else np.dtype(np.int64)
    if lo is not None and hi is not None:
        def step(carry, _):
            i, val = carry
            return (add(i, np.ones((), dtype)), body_fun(i, val)), None
        (_, val), _ = scan(step, (np.asarray(lo, dtype), init_val), None, length=max(hi - lo, 0))
        return val
    lower = convert_element_type(lower, dtype) if aval_of(lower).dtype != dtype else lower
    upper = convert_element_type(upper, dtype) if aval_of(upper).dtype != dtype else upper
    _, _, val = while_loop(lambda c: c[0] < c[1], lambda c: (add(c[0], np.ones((), dtype)), c[1], body_fun(c[0], c[2])),
                           (lower, upper, init_val))
    return val


def scan(f: Callable, init, xs=None, length: int | None = None, reverse: bool = False, unroll: int = 1):
    """`(carry, ys)`: `carry, y = f(carry, x)` for each x along the leading axis of xs (a pytree), the ys
    stacked; `length` when xs is None. One body in the IR whatever the length."""
    x_leaves, x_tree, x_avals = _leaves(xs, "xs of scan")
    lengths = {a.shape[0] if a.shape else None for a in x_avals}
    if None in lengths:
        raise JaxprTypeError("scan: every leaf of xs needs a leading axis to scan over, got scalars",
                             "Give xs arrays of shape (length, ...), or xs=None with length=.")
    if length is not None:
        lengths.add(int(length))
    if not lengths:
        raise JaxprTypeError("scan: no xs to scan over and no length= given, so the number of steps is unknown",
                             "Give xs arrays of shape (length, ...), or xs=None with length=.")
    if len(lengths) != 1:
        raise JaxprTypeError(f"scan: the leading axes of xs (and length=) differ: {sorted(lengths)}",
                             "Every array scanned over has the same leading length.")
    n = lengths.pop()
    c_leaves, c_tree, c_avals = _leaves(init, "init of scan")
    slices = [ShapedArray(a.shape[1:], a.dtype) for a in x_avals]
    body, consts, out_tree = _trace_fun(lambda c, x: _pair(f(c, x)), [c_tree, x_tree], c_avals + slices, "scan")
    carry_tree, y_tree = out_tree.children()
    if carry_tree != c_tree:
        raise JaxprTypeError(f"scan: f returns a carry {carry_tree}, but init is {c_tree}",
                             "f returns (carry, y) with the carry of the same structure as init.")
    _check_types("scan: f's output", body.out_avals[:len(c_leaves)], c_avals, _paths(init, "carry"))
    outs = scan_p.bind(*consts, *c_leaves, *x_leaves, jaxpr=body, num_consts=len(consts),
                       num_carry=len(c_leaves), length=n, reverse=bool(reverse))
    return tree_unflatten(carry_tree, outs[:len(c_leaves)]), tree_unflatten(y_tree, outs[len(c_leaves):])


def _pair(out):
    if not (isinstance(out, tuple) and len(out) == 2):
        raise JaxprTypeError(f"scan: f must return a pair (carry, y), got {type(out).__name__}",
                             "Return (new_carry, y); y may be None.")
    return out


def map_(f: Callable, xs):  # exported as lax.map (JAX's name)
    """`f` applied to each x along the leading axis of xs, the results stacked (a scan without carry)."""
    return scan(lambda _, x: (None, f(x)), None, xs)[1]
