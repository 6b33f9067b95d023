"""`tracing.passes.simplify` on its own (no DCE after it): what a primitive's "simplify" rule sees through
`RewriteContext`, what the rule's answer does, and constant folding that never makes data bigger.

End-to-end rewrites through `optimize` are in test_passes.py; here the programs are built by hand so each
operand is exactly a literal, a constant, an input or an equation's output."""
import numpy as np

from minigrad_fn import lax
from tracing import ClosedJaxpr, Eqn, Jaxpr, Literal, Primitive, ShapedArray, Var, simplify
from tracing.passes import RewriteContext

F64 = np.dtype(np.float64)
P = lax.all_primitives()


def _v(*shape):
    return Var(ShapedArray(shape, F64))


def _lit(x):
    return Literal(np.float64(x), ShapedArray((), F64))


def _spy(rule):
    """A new elementwise primitive of any number of operands whose "simplify" rule is `rule`."""
    prim = Primitive("spy", shape_rule=lambda *avals: avals[0], impl=lambda *xs: xs[0])
    prim.rules["simplify"] = rule
    return prim


def test_rewrite_context_is_simplifys():
    seen = []
    prim = _spy(lambda eqn, ctx: seen.append(ctx) and None)
    x, y = _v(3), _v(3)
    simplify(ClosedJaxpr(Jaxpr([], [x], [y], [Eqn(prim, [x], [y], {})]), []))
    assert len(seen) == 1 and type(seen[0]) is RewriteContext


def test_value_of_a_literal_a_constant_and_an_input():
    c, x, y = _v(3), _v(3), _v(3)
    const, two = np.array([1.0, 2.0, 3.0]), _lit(2.0)
    seen = {}

    def rule(eqn, ctx):
        seen.update(zip(("x", "c", "two"), (ctx.value(v) for v in eqn.invars)))
    simplify(ClosedJaxpr(Jaxpr([c], [x], [y], [Eqn(_spy(rule), [x, c, two], [y], {})]), [const]))
    assert seen["x"] is None                      # an input has no value at simplification time
    assert seen["c"] is const                     # the constant itself, not a copy
    assert seen["two"] is two.val


def test_producer_of_a_var():
    c, x, e, y = _v(3), _v(3), _v(3), _v(3)
    exp = Eqn(P["exp"], [x], [e], {})
    seen = {}

    def rule(eqn, ctx):
        seen.update(zip(("e", "x", "c", "two"), (ctx.producer(v) for v in eqn.invars)))
    closed = ClosedJaxpr(Jaxpr([c], [x], [y], [exp, Eqn(_spy(rule), [e, x, c, _lit(2.0)], [y], {})]),
                         [np.ones(3)])
    out = simplify(closed)
    assert seen["e"] is exp and out.jaxpr.eqns[0] is exp
    assert seen["x"] is None and seen["c"] is None and seen["two"] is None   # input, constant, literal


def test_producer_after_cse_is_the_kept_equation():
    x, e1, e2, y = _v(3), _v(3), _v(3), _v(3)
    first, second = Eqn(P["exp"], [x], [e1], {}), Eqn(P["exp"], [x], [e2], {})
    seen = []
    prim = _spy(lambda eqn, ctx: seen.append((eqn.invars[0], ctx.producer(eqn.invars[0]))))
    out = simplify(ClosedJaxpr(Jaxpr([], [x], [y], [first, second, Eqn(prim, [e2], [y], {})]), []))
    assert seen == [(e1, first)]                  # the rule sees the merged operand and its producer
    assert [e.prim.name for e in out.jaxpr.eqns] == ["exp", "spy"]


def test_what_the_rules_answer_does():
    x, e, y = _v(3), _v(3), _v(3)
    exp = Eqn(P["exp"], [x], [e], {})
    # an atom: the equation goes and its output is that atom
    out = simplify(ClosedJaxpr(Jaxpr([], [x], [y], [exp, Eqn(_spy(lambda eqn, ctx: eqn.invars[1]), [e, x], [y], {})]),
                               []))
    assert [q.prim.name for q in out.jaxpr.eqns] == ["exp"] and out.jaxpr.outvars == [x]
    # an equation: it takes the place of the original
    neg = Eqn(P["neg"], [e], [y], {})
    out = simplify(ClosedJaxpr(Jaxpr([], [x], [y], [exp, Eqn(_spy(lambda eqn, ctx: neg), [e], [y], {})]), []))
    assert out.jaxpr.eqns == [exp, neg] and out.jaxpr.outvars == [y]
    # None: kept as it is; and simplify alone drops nothing, not even an unused equation
    spy = Eqn(_spy(lambda eqn, ctx: None), [x], [y], {})
    out = simplify(ClosedJaxpr(Jaxpr([], [x], [y], [exp, spy]), []))
    assert out.jaxpr.eqns == [exp, spy]


def _fold(prim, operand, const, params, out_shape):
    """simplify of y = prim(operand) with `operand` a constant (a Var with value `const`) or a Literal."""
    y = _v(*out_shape)
    consts = [] if type(operand) is Literal else [operand]
    closed = ClosedJaxpr(Jaxpr(consts, [], [y], [Eqn(P[prim], [operand], [y], params)]),
                         [] if type(operand) is Literal else [const])
    return simplify(closed)


def test_folding_keeps_a_broadcast_that_would_grow_a_constant():
    c = np.array([1.5])
    out = _fold("broadcast_in_dim", _v(1), c, {"shape": (2,), "broadcast_dimensions": (0,)}, (2,))
    assert [e.prim.name for e in out.jaxpr.eqns] == ["broadcast_in_dim"] and len(out.consts) == 1
    out = _fold("broadcast_in_dim", _lit(1.5), None, {"shape": (2, 1), "broadcast_dimensions": ()}, (2, 1))
    assert [e.prim.name for e in out.jaxpr.eqns] == ["broadcast_in_dim"] and out.consts == []


def test_folding_of_a_result_no_bigger_than_its_operands():
    c = np.arange(6.0).reshape(2, 3)
    # as big: a new constant, and the equation goes (the old constant stays for DCE to drop)
    out = _fold("reshape", _v(2, 3), c, {"new_sizes": (3, 2)}, (3, 2))
    assert out.jaxpr.eqns == [] and len(out.consts) == 2
    assert out.jaxpr.outvars[0] is out.jaxpr.constvars[1]
    np.testing.assert_array_equal(out.consts[1], c.reshape(3, 2))
    # a broadcast of one element to one element is no bigger either
    out = _fold("broadcast_in_dim", _lit(1.5), None, {"shape": (1, 1), "broadcast_dimensions": ()}, (1, 1))
    assert out.jaxpr.eqns == [] and len(out.consts) == 1
    np.testing.assert_array_equal(out.consts[0], [[1.5]])
    # a scalar result: written inline as a literal, no new constant
    out = _fold("reduce_sum", _v(2, 3), c, {"axes": (0, 1)}, ())
    (res,) = out.jaxpr.outvars
    assert out.jaxpr.eqns == [] and len(out.consts) == 1 and type(res) is Literal
    assert res.val == 15.0 and res.aval == ShapedArray((), F64)
