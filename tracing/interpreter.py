"""Evaluate a Jaxpr by binding each equation in the current trace, freeing values at their last use."""
from __future__ import annotations

from typing import Sequence

from .ir import Jaxpr, Var

def last_uses(jaxpr: Jaxpr) -> list:
    """For each equation, the variables that no later equation or output reads (free them after it)."""
    dead = jaxpr._last_uses
    if dead is not None:
        return dead
    seen = {v for v in jaxpr.outvars if type(v) is Var}
    dead = []
    for eqn in reversed(jaxpr.eqns):
        here = []
        for v in eqn.invars:
            if type(v) is Var and v not in seen:
                seen.add(v)
                here.append(v)
        dead.append(here)
    dead.reverse()
    jaxpr._last_uses = dead
    return dead


def eval_jaxpr(jaxpr: Jaxpr, consts: Sequence, args: Sequence) -> list:
    """Run `jaxpr` on `args` through `bind`, so an enclosing trace records what it computes."""
    env: dict = dict(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.invars, args))
    dead = last_uses(jaxpr)
    for eqn, gone in zip(jaxpr.eqns, dead):
        ins = [env[v] if type(v) is Var else v.val for v in eqn.invars]
        out = eqn.prim.bind(*ins, **eqn.params)
        if eqn.prim.multiple_results:
            env.update(zip(eqn.outvars, out))
        else:
            env[eqn.outvars[0]] = out
        for v in gone:
            del env[v]
    return [env[v] if type(v) is Var else v.val for v in jaxpr.outvars]
