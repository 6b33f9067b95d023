"""IR passes: dead-code elimination and the type checker."""
from __future__ import annotations

from .errors import JaxprTypeError
from .ir import ClosedJaxpr, Jaxpr, Var


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
