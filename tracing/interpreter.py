"""Evaluate a Jaxpr: by binding each equation in the current trace (`eval_jaxpr`, which any enclosing
transformation records), or, at the top level, with a generated straight-line function (`straight_line`).
Both free each value at its last use."""
from __future__ import annotations

import functools
from typing import Callable, Sequence

from .core import ROOT, current_trace
from .errors import MinigradError
from .source import SourceInfo, _emitting_for
from .ir import Jaxpr, Var


def last_uses(jaxpr: Jaxpr) -> list:
    """For each equation, the variables that no later equation or output reads (free them after it)."""
    dead = jaxpr.cache.get("last_uses")
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
    jaxpr.cache["last_uses"] = dead
    return dead


def eval_jaxpr(jaxpr: Jaxpr, consts: Sequence, args: Sequence) -> list:
    """Run `jaxpr` on `args` through `bind`, so an enclosing trace records what it computes.

    What a trace records keeps the source of the equation it came from (unless a rule is emitting
    equations on behalf of another equation: those belong to that one)."""
    env: dict = dict(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.invars, args))
    dead = last_uses(jaxpr)
    behalf = _emitting_for.get()
    pin = current_trace() is not ROOT and (behalf is None or type(behalf) is SourceInfo)
    for eqn, gone in zip(jaxpr.eqns, dead):
        ins = [env[v] if type(v) is Var else v.val for v in eqn.invars]
        if pin and eqn.source.code is not None:
            token = _emitting_for.set(eqn.source)
            try:
                out = eqn.prim.bind(*ins, **eqn.params)
            finally:
                _emitting_for.reset(token)
        else:
            out = eqn.prim.bind(*ins, **eqn.params)
        if eqn.prim.multiple_results:
            env.update(zip(eqn.outvars, out))
        else:
            env[eqn.outvars[0]] = out
        for v in gone:
            del env[v]
    return [env[v] if type(v) is Var else v.val for v in jaxpr.outvars]


def straight_line(jaxpr: Jaxpr) -> Callable:
    """`jaxpr` turned once into a generated Python function that calls each primitive's implementation
    directly: no `bind`, no trace, no dict of values; each value is deleted after its last use.

    It computes what `eval_jaxpr` computes at the top level (the root trace) and is cached on the jaxpr.
    The source is kept as `fn.source`. If an implementation fails, the program is run again with
    `eval_jaxpr` so the error names the operation and its operands.
    """
    fn = jaxpr.cache.get("straight_line")
    if fn is not None:
        return fn
    names: dict = {}
    namespace: dict = {}

    def name(v) -> str:
        if type(v) is Var:
            n = names.get(v)
            if n is None:
                n = names[v] = f"v{len(names)}"
            return n
        k = f"k{len(namespace)}"
        namespace[k] = v.val
        return k

    params = [name(v) for v in jaxpr.constvars + jaxpr.invars]
    lines = []
    for i, (eqn, gone) in enumerate(zip(jaxpr.eqns, last_uses(jaxpr))):
        f = f"{eqn.prim.name}_{i}"
        namespace[f] = functools.partial(eqn.prim.impl, **eqn.params) if eqn.params else eqn.prim.impl
        ins = ", ".join(name(v) for v in eqn.invars)
        outs = ", ".join(name(v) for v in eqn.outvars)
        lines.append(f"    {outs}{',' if eqn.prim.multiple_results else ''} = {f}({ins})")
        if gone:
            lines.append(f"    del {', '.join(name(v) for v in gone)}")
    lines.append(f"    return [{', '.join(name(v) for v in jaxpr.outvars)}]")
    source = f"def program({', '.join(params)}):\n" + "\n".join(lines) + "\n"
    exec(compile(source, "<straight_line>", "exec"), namespace)
    program = namespace["program"]
    n_consts = len(jaxpr.constvars)

    def run(*args):
        try:
            return program(*args)
        except MinigradError:
            raise
        except Exception:  # let the interpreter raise its error, which names the operation
            return eval_jaxpr(jaxpr, args[:n_consts], args[n_consts:])
    run.source = source
    jaxpr.cache["straight_line"] = run
    return run
