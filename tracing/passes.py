"""IR passes: dead-code elimination, simplification (constant folding, algebraic rules, CSE), type checking.

Primitives are pure, so an equation can be dropped when nothing reads its outputs, evaluated ahead of
time when its operands are all known, or merged with an identical earlier one. Rules that know a
particular primitive (x * 1 -> x, neg(neg(x)) -> x, a transpose folded into dot_general) live beside that
primitive, in `prim.rules["simplify"]`; this module only applies them.

Every pass sees inside nested programs (a `jit` call's body, later loop and branch bodies) through
`subjaxprs`: the type checker checks them, simplification and DCE optimise them, and a primitive's
`rules["dce"]` may drop the outputs of its body that nothing reads. Constant folding never evaluates an
equation that holds a program (it would run a call or a loop at optimisation time).
"""
from __future__ import annotations

import numpy as np

from .core import Tracer, gc_paused
from .errors import JaxprTypeError
from .ir import ClosedJaxpr, Eqn, Jaxpr, Literal, Var, has_subjaxprs, subjaxprs


def dce(jaxpr: Jaxpr, use_rules: bool = True) -> Jaxpr:
    """Drop equations none of whose outputs reach the jaxpr's outputs (primitives are pure). An equation
    some of whose outputs are unused is given to its primitive's `rules["dce"](eqn, used_outputs)`, when
    it has one, which returns a smaller equation (or None to keep it as it is)."""
    live = {v for v in jaxpr.outvars if type(v) is Var}
    kept = []
    changed = False
    for eqn in reversed(jaxpr.eqns):
        outvars = eqn.outvars
        if len(outvars) == 1:  # the common case, without the lists below
            if outvars[0] not in live:
                changed = True
                continue
        else:
            used = [v in live for v in outvars]
            if not any(used):
                changed = True
                continue
            rule = eqn.prim.rules.get("dce") if use_rules else None
            if rule is not None and not all(used):
                smaller = rule(eqn, used)
                if smaller is not None:
                    eqn, changed = smaller, True
        kept.append(eqn)
        for v in eqn.invars:
            if type(v) is Var:
                live.add(v)
    if not changed:
        return jaxpr
    kept.reverse()
    return Jaxpr(jaxpr.constvars, jaxpr.invars, jaxpr.outvars, kept)


def dce_closed(closed: ClosedJaxpr, use_rules: bool = True) -> ClosedJaxpr:
    """DCE that also drops constants no remaining equation or output reads (`use_rules=False`: whole
    equations only, each kept as it is)."""
    jaxpr = dce(closed.jaxpr, use_rules)
    if not jaxpr.constvars:
        return closed if jaxpr is closed.jaxpr else ClosedJaxpr(jaxpr, [])
    used = {v for e in jaxpr.eqns for v in e.invars if type(v) is Var}
    used.update(v for v in jaxpr.outvars if type(v) is Var)
    pairs = [(v, c) for v, c in zip(jaxpr.constvars, closed.consts) if v in used]
    if len(pairs) == len(jaxpr.constvars) and jaxpr is closed.jaxpr:
        return closed
    new = Jaxpr([v for v, _ in pairs], jaxpr.invars, jaxpr.outvars, jaxpr.eqns)
    return ClosedJaxpr(new, [c for _, c in pairs])


_TYPING_HINT = ("A program built or changed by hand (or by a pass) must define each variable once, before any "
                "equation reads it, and give each equation the outputs its primitive's shape rule gives; "
                ".pretty(source=True) shows where each equation came from.")


def typecheck(jaxpr: Jaxpr) -> None:
    """Check every variable is defined once before use and every equation agrees with its shape rule."""
    defined: set = set()

    def define(v, where):
        if v in defined:
            raise JaxprTypeError(f"{where}: variable {v} is defined twice", _TYPING_HINT)
        defined.add(v)

    for v in jaxpr.constvars:
        define(v, "constvars")
    for v in jaxpr.invars:
        define(v, "invars")
    for i, eqn in enumerate(jaxpr.eqns):
        where = f"equation {i} ({eqn.prim.name}" + (f" at {eqn.source.location()})" if eqn.source.code else ")")
        for v in eqn.invars:
            if type(v) is Var and v not in defined:
                raise JaxprTypeError(f"{where}: reads a variable {v.aval} before it is defined", _TYPING_HINT)
        expect = eqn.prim.shape_rule(*[v.aval for v in eqn.invars], **eqn.params)
        expect = list(expect) if eqn.prim.multiple_results else [expect]
        got = [v.aval for v in eqn.outvars]
        if expect != got:
            raise JaxprTypeError(f"{where}: outputs are {[str(a) for a in got]} but the shape rule "
                                 f"gives {[str(a) for a in expect]}", _TYPING_HINT)
        for v in eqn.outvars:
            define(v, where)
        for k, body in subjaxprs(eqn):
            try:
                typecheck(body)
            except JaxprTypeError as e:
                raise JaxprTypeError(f"{where}, in its {k}: {e.raw_message}", _TYPING_HINT) from None
    for v in jaxpr.outvars:
        if type(v) is Var and v not in defined:
            raise JaxprTypeError(f"output {v.aval} is never defined", _TYPING_HINT)


# ---------------------------------------------------------------------------------------------
# Simplification: constant folding, per-primitive algebraic rules, common-subexpression elimination

class RewriteContext:
    """What a primitive's "simplify" rule may ask about an equation's operands."""

    __slots__ = ("_consts", "_producers", "_unfolded", "_values")

    def __init__(self, consts: dict, producers: dict):
        self._consts = consts
        self._producers = producers
        self._unfolded: dict = {}  # var -> equation of known operands left unfolded (it would grow data)
        self._values: dict = {}

    def value(self, atom):
        """The concrete numpy value of a literal or constant operand, or of an equation of constants
        left in the program because folding it would grow data (`ones` as a broadcast of 1.0); else None."""
        if type(atom) is Literal:
            return atom.val
        v = self._consts.get(atom)
        if v is None and atom in self._unfolded:
            v = self._values.get(atom)
            if v is None:
                eqn = self._unfolded[atom]
                v = self._values[atom] = eqn.prim.impl(*[self.value(a) for a in eqn.invars], **eqn.params)
        return v

    def producer(self, atom):
        """The equation that computes `atom` (a Var), or None for inputs, constants and literals."""
        return self._producers.get(atom) if type(atom) is Var else None


def _atom_key(a):
    if type(a) is Var:
        return a
    v = a.val  # by its bytes: 0.0 and -0.0 are different constants
    return ("literal", a.aval.dtype, v.tobytes() if hasattr(v, "tobytes") else repr(v))


def _strict_key(v):
    """A parameter value as a key equal only to the same value of the same type: Python finds
    1 == 1.0 == True, np.float32(1) == np.float64(1), dtype('float32') == 'float32' and -0.0 == 0.0, but
    each gives a different equation."""
    t = type(v)
    if t is tuple:
        return t, tuple(_strict_key(e) for e in v)
    if t is float:
        return t, v.hex()
    if isinstance(v, np.generic):
        return t, v.tobytes()
    if t is complex:
        return t, v.real.hex(), v.imag.hex()
    if isinstance(v, tuple):  # a namedtuple
        return t, tuple(_strict_key(e) for e in v)
    return t, v


def _params_key(params):
    if not params:
        return ()
    try:
        key = tuple(sorted((k, _strict_key(v)) for k, v in params.items()))
        hash(key)
        return key
    except TypeError:
        return None


def simplify(closed: ClosedJaxpr, new_consts: bool = True) -> ClosedJaxpr:
    """One forward walk that folds constants, applies each primitive's "simplify" rule and merges
    equations computing the same thing (CSE); follow with DCE to drop what became dead.

    An equation is folded (evaluated now with its numpy implementation) when every operand is a literal
    or a concrete constant and its result is no bigger than its operands (a broadcast of a scalar is
    kept as an equation rather than becoming a large constant). With `new_consts=False` (a nested
    program, which has no constants of its own) only scalar results are folded, into literals.
    Nested programs are optimised in place of their equation.
    """
    jaxpr = closed.jaxpr
    consts = {v: c for v, c in zip(jaxpr.constvars, closed.consts) if c is not None and not isinstance(c, Tracer)}
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
            eqn = eqn.replace(invars=invars)
        nested = has_subjaxprs(eqn)
        if nested:
            eqn = _simplify_bodies(eqn)
            params = eqn.params
        # constant folding
        if not prim.multiple_results and not nested and all(type(v) is Literal or v in consts for v in invars) \
                and (new_consts or outvars[0].aval.shape == ()):
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
            else:
                ctx._unfolded[outvars[0]] = eqn
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


def _simplify_bodies(eqn: Eqn) -> Eqn:
    """The equation with each nested program optimised (same inputs and outputs)."""
    params = dict(eqn.params)
    for k, v in eqn.params.items():
        if isinstance(v, Jaxpr):
            params[k] = _optimize_body(v)
        elif isinstance(v, ClosedJaxpr):
            params[k] = ClosedJaxpr(_optimize_body(v.jaxpr, len(v.consts)), v.consts)
        elif isinstance(v, (tuple, list)) and v and isinstance(v[0], (Jaxpr, ClosedJaxpr)):
            params[k] = type(v)(_simplify_bodies(eqn.replace(params={"b": b})).params["b"] for b in v)
    return eqn.replace(params=params)


def _optimize_body(jaxpr: Jaxpr, n_consts: int = 0) -> Jaxpr:
    if "optimized" in jaxpr.cache:
        return jaxpr
    out = dce(simplify(ClosedJaxpr(jaxpr, [None] * len(jaxpr.constvars)), new_consts=False).jaxpr)
    out = jaxpr if len(out.eqns) == len(jaxpr.eqns) and out.outvars == jaxpr.outvars else out
    out.cache["optimized"] = True
    return out


def optimize(closed: ClosedJaxpr) -> ClosedJaxpr:
    """The pass pipeline: simplify (constant folding, algebraic rules, CSE), then dead-code elimination."""
    with gc_paused():
        return dce_closed(simplify(closed))
