"""IR passes: dead-code elimination, simplification (constant folding, algebraic rules, CSE), type checking.

Primitives are pure, so an equation can be dropped when nothing reads its outputs, evaluated ahead of
time when its operands are all known, or merged with an identical earlier one. Rules that know a
particular primitive (x * 1 -> x, neg(neg(x)) -> x, a transpose folded into dot_general) live beside that
primitive, in `prim.rules["simplify"]`; this module only applies them.
"""
from __future__ import annotations

import numpy as np

from .core import Tracer, gc_paused
from .errors import JaxprTypeError
from .ir import ClosedJaxpr, Eqn, Jaxpr, Literal, Var


def dce(jaxpr: Jaxpr) -> Jaxpr:
    """Drop equations none of whose outputs reach the jaxpr's outputs (primitives are pure)."""
    live = {v for v in jaxpr.outvars if type(v) is Var}
    kept = []
    for eqn in reversed(jaxpr.eqns):
        if any(v in live for v in eqn.outvars):
            kept.append(eqn)
            live.update(v for v in eqn.invars if type(v) is Var)
    kept.reverse()
    if len(kept) == len(jaxpr.eqns):
        return jaxpr
    return Jaxpr(jaxpr.constvars, jaxpr.invars, jaxpr.outvars, kept)


def dce_closed(closed: ClosedJaxpr) -> ClosedJaxpr:
    """DCE that also drops constants no remaining equation or output reads."""
    jaxpr = dce(closed.jaxpr)
    used = {v for e in jaxpr.eqns for v in e.invars if type(v) is Var}
    used.update(v for v in jaxpr.outvars if type(v) is Var)
    pairs = [(v, c) for v, c in zip(jaxpr.constvars, closed.consts) if v in used]
    if len(pairs) == len(jaxpr.constvars) and jaxpr is closed.jaxpr:
        return closed
    new = Jaxpr([v for v, _ in pairs], jaxpr.invars, jaxpr.outvars, jaxpr.eqns)
    return ClosedJaxpr(new, [c for _, c in pairs])


def typecheck(jaxpr: Jaxpr) -> None:
    """Check every variable is defined once before use and every equation agrees with its shape rule."""
    defined: set = set()

    def define(v, where):
        if v in defined:
            raise JaxprTypeError(f"{where}: variable {v} is defined twice")
        defined.add(v)

    for v in jaxpr.constvars:
        define(v, "constvars")
    for v in jaxpr.invars:
        define(v, "invars")
    for i, eqn in enumerate(jaxpr.eqns):
        where = f"equation {i} ({eqn.prim.name})"
        for v in eqn.invars:
            if type(v) is Var and v not in defined:
                raise JaxprTypeError(f"{where}: reads a variable {v.aval} before it is defined")
        expect = eqn.prim.shape_rule(*[v.aval for v in eqn.invars], **eqn.params)
        expect = list(expect) if eqn.prim.multiple_results else [expect]
        got = [v.aval for v in eqn.outvars]
        if expect != got:
            raise JaxprTypeError(f"{where}: outputs are {[str(a) for a in got]} but the shape rule "
                                 f"gives {[str(a) for a in expect]}")
        for v in eqn.outvars:
            define(v, where)
    for v in jaxpr.outvars:
        if type(v) is Var and v not in defined:
            raise JaxprTypeError(f"output {v.aval} is never defined")


# ---------------------------------------------------------------------------------------------
# Simplification: constant folding, per-primitive algebraic rules, common-subexpression elimination

class RewriteContext:
    """What a primitive's "simplify" rule may ask about an equation's operands."""

    __slots__ = ("_consts", "_producers")

    def __init__(self, consts: dict, producers: dict):
        self._consts = consts
        self._producers = producers

    def value(self, atom):
        """The concrete numpy value of a literal or constant operand, else None."""
        if type(atom) is Literal:
            return atom.val
        return self._consts.get(atom)

    def producer(self, atom):
        """The equation that computes `atom` (a Var), or None for inputs, constants and literals."""
        return self._producers.get(atom) if type(atom) is Var else None


def _atom_key(a):
    if type(a) is Var:
        return a
    v = a.val  # by its bytes: 0.0 and -0.0 are different constants
    return ("literal", a.aval.dtype, v.tobytes() if hasattr(v, "tobytes") else repr(v))


def _params_key(params):
    if not params:
        return ()
    try:
        key = tuple(sorted(params.items()))
        hash(key)
        return key
    except TypeError:
        return None


def simplify(closed: ClosedJaxpr) -> ClosedJaxpr:
    """One forward walk that folds constants, applies each primitive's "simplify" rule and merges
    equations computing the same thing (CSE); follow with DCE to drop what became dead.

    An equation is folded (evaluated now with its numpy implementation) when every operand is a literal
    or a concrete constant and its result is no bigger than its operands (a broadcast of a scalar is
    kept as an equation rather than becoming a large constant).
    """
    jaxpr = closed.jaxpr
    consts = {v: c for v, c in zip(jaxpr.constvars, closed.consts) if not isinstance(c, Tracer)}
    constvars, constvals = list(jaxpr.constvars), list(closed.consts)
    subst: dict = {}
    producers: dict = {}
    seen: dict = {}
    ctx = RewriteContext(consts, producers)
    eqns = []
    for eqn in jaxpr.eqns:
        invars = [subst.get(v, v) if type(v) is Var else v for v in eqn.invars]
        prim, params, outvars = eqn.prim, eqn.params, eqn.outvars
        if invars != eqn.invars:
            eqn = Eqn(prim, invars, outvars, params)
        # constant folding
        if not prim.multiple_results and all(type(v) is Literal or v in consts for v in invars):
            aval = outvars[0].aval
            sizes = sum(int(np.size(ctx.value(v))) for v in invars)
            if aval.size <= max(1, sizes):
                try:
                    val = np.asarray(prim.impl(*[ctx.value(v) for v in invars], **params))
                except Exception:
                    val = None
                if val is not None and val.shape == aval.shape and val.dtype == aval.dtype:
                    atom = Literal(val, aval) if aval.shape == () else None  # scalars inline, else a constant
                    if atom is None:
                        atom = Var(aval)
                        constvars.append(atom)
                        constvals.append(val)
                        consts[atom] = val
                    subst[outvars[0]] = atom
                    continue
        # algebraic rules, beside each primitive
        rule = prim.rules.get("simplify")
        if rule is not None:
            out = rule(eqn, ctx)
            if out is not None:
                if isinstance(out, Eqn):
                    eqn = out
                else:
                    subst[outvars[0]] = out
                    continue
        # common subexpressions
        pkey = _params_key(eqn.params)
        if pkey is not None:
            key = (eqn.prim, tuple(_atom_key(v) for v in eqn.invars), pkey)
            prev = seen.get(key)
            if prev is not None:
                subst.update(zip(outvars, prev))
                continue
            seen[key] = outvars
        for v in eqn.outvars:
            producers[v] = eqn
        eqns.append(eqn)
    outs = [subst.get(v, v) if type(v) is Var else v for v in jaxpr.outvars]
    return ClosedJaxpr(Jaxpr(constvars, jaxpr.invars, outs, eqns), constvals)


def optimize(closed: ClosedJaxpr) -> ClosedJaxpr:
    """The pass pipeline: simplify (constant folding, algebraic rules, CSE), then dead-code elimination."""
    with gc_paused():
        return dce_closed(simplify(closed))
