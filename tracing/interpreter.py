"""Evaluate a Jaxpr by binding each equation in the current trace, freeing values at their last use."""
from __future__ import annotations

from typing import Any, Sequence

from .ir import Jaxpr, Literal, Var

_dead_cache: "dict[int, tuple]" = {}


def last_uses(jaxpr: Jaxpr) -> list:
    """For each equation, the variables that no later equation or output reads (free them after it)."""
    key = id(jaxpr)
    hit = _dead_cache.get(key)
    if hit is not None and hit[0] is jaxpr:
        return hit[1]
    keep = {v for v in jaxpr.outvars if type(v) is Var}
    seen: set = set(keep)
    dead: list = []
    for eqn in reversed(jaxpr.eqns):
        here = []
        for v in eqn.invars:
            if type(v) is Var and v not in seen:
                seen.add(v)
                here.append(v)
        dead.append(here)
    dead.reverse()
    if len(_dead_cache) > 256:
        _dead_cache.clear()
    _dead_cache[key] = (jaxpr, dead)
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


def read(env: dict, v: Any) -> Any:
    """The value of an atom: a Literal's own value or the variable's entry in env."""
    return v.val if isinstance(v, Literal) else env[v]
