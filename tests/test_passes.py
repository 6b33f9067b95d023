"""The IR passes: each rewrite happens where it should, never where it should not, and keeps results equal."""
import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from minigrad_fn import lax
from tracing import optimize

R = np.random.default_rng(5)


def names(closed):
    return [e.prim.name for e in closed.eqns]


def same_results(f, *args):
    """The optimised program computes what the recorded one does; returns both programs."""
    raw = mg.make_jaxpr(f, optimize=False)(*args)
    opt = mg.make_jaxpr(f)(*args)
    mg.typecheck(opt.jaxpr)
    want = mg.eval_jaxpr(raw.jaxpr, raw.consts, list(args))
    got = mg.eval_jaxpr(opt.jaxpr, opt.consts, list(args))
    for a, b in zip(want, got):
        assert np.shape(a) == np.shape(b) and np.asarray(a).dtype == np.asarray(b).dtype
        np.testing.assert_allclose(b, a, rtol=1e-13)
    return raw, opt


@pytest.mark.parametrize("f, gone", [
    (lambda x: x * 1.0 - 0.0, ["mul", "sub"]),  # (x + 0.0 is not x when x is -0.0; x - 0.0 is)
    (lambda x: x + -0.0, ["add"]),
    (lambda x: (x - 0.0) / 1.0, ["sub", "div"]),
    (lambda x: -(-x), ["neg", "neg"]),
    (lambda x: x.T.T, ["transpose", "transpose"]),
    (lambda x: mnp.reshape(mnp.reshape(x, (12,)), (4, 3)), ["reshape"]),
    (lambda x: x ** 1, ["integer_pow"]),
    (lambda x: mnp.sin(x) * mnp.sin(x), ["sin"]),                      # CSE
    (lambda x: mnp.where(np.ones((3, 4), bool), x, -x), ["select", "neg"]),
])
def test_each_rewrite_removes_what_it_should(f, gone):
    x = R.standard_normal((3, 4))
    raw, opt = same_results(f, x)
    removed = list(names(raw))
    for n in names(opt):
        removed.remove(n)
    assert sorted(removed) == sorted(gone), (raw, opt)


def test_rewrites_that_must_not_happen():
    x = R.standard_normal((3, 4))
    # x * ones((2, 3, 4)) broadcasts: not an identity
    _, opt = same_results(lambda x: x * np.ones((2, 3, 4)), x)
    assert names(opt) == ["mul"]
    # a constant that is not all ones
    _, opt = same_results(lambda x: x * np.array([1.0, 1.0, 1.0, 2.0]), x)
    assert names(opt) == ["mul"]
    # 1 / x is not x / 1
    _, opt = same_results(lambda x: 1.0 / x, x)
    assert names(opt) == ["div"]
    # a transpose that reorders dot_general's free axes stays
    _, opt = same_results(lambda a, b: mnp.einsum("ijk,kl->jil", a, b), R.standard_normal((2, 3, 4)),
                          R.standard_normal((4, 5)))
    assert "dot_general" in names(opt)


def test_transposes_fold_into_dot_general():
    a, b = R.standard_normal((3, 4)), R.standard_normal((5, 3))
    raw, opt = same_results(lambda a, b: a.T @ b.T, a, b)
    assert names(raw) == ["transpose", "transpose", "dot_general"] and names(opt) == ["dot_general"]
    assert opt.eqns[0].params["dimension_numbers"] == (((0,), (1,)), ((), ()))
    _, opt = same_results(lambda a, b: mnp.matmul(mnp.swapaxes(a, 1, 2), b), R.standard_normal((2, 4, 3)),
                          R.standard_normal((2, 4, 5)))
    assert names(opt) == ["dot_general"]


def test_folding_of_recorded_constant_equations():
    # Equations on constants are usually evaluated at trace time; a program built by hand can hold them.
    from tracing import ClosedJaxpr, Eqn, Jaxpr, Literal, ShapedArray, Var
    from minigrad_fn.primitives import elementwise as E, shape as S
    f64 = np.dtype(np.float64)
    c, x = Var(ShapedArray((3,), f64)), Var(ShapedArray((3,), f64))
    e, s, y = Var(ShapedArray((3,), f64)), Var(ShapedArray((), f64)), Var(ShapedArray((3,), f64))
    two = Literal(np.float64(2.0), ShapedArray((), f64))
    jaxpr = Jaxpr([c], [x], [y], [
        Eqn(E.exp_p, [c], [e], {}),
        Eqn(lax.reduce_sum_p, [e], [s], {"axes": (0,)}),
        Eqn(E.mul_p, [s, two], [Var(ShapedArray((), f64))], {}),
        Eqn(E.mul_p, [x, e], [y], {}),
    ])
    consts = [np.array([0.0, 1.0, 2.0])]
    opt = optimize(ClosedJaxpr(jaxpr, consts))
    assert names(opt) == ["mul"] and len(opt.consts) == 1  # exp(c) folded; the dead sum and mul dropped
    np.testing.assert_allclose(opt.consts[0], np.exp([0.0, 1.0, 2.0]))
    xv = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(mg.eval_jaxpr(opt.jaxpr, opt.consts, [xv])[0], xv * np.exp([0.0, 1.0, 2.0]))

    # a broadcast of a scalar stays an equation: folding it would turn one number into a (3, 1000) constant
    b, z = Var(ShapedArray((3, 1000), f64)), Var(ShapedArray((3, 1000), f64))
    big = Var(ShapedArray((3, 1000), f64))
    jaxpr = Jaxpr([], [big], [z], [Eqn(S.broadcast_in_dim_p, [two], [b], {"shape": (3, 1000),
                                                                          "broadcast_dimensions": ()}),
                                   Eqn(E.mul_p, [big, b], [z], {})])
    opt = optimize(ClosedJaxpr(jaxpr, []))
    assert names(opt) == ["broadcast_in_dim", "mul"] and not opt.consts


def test_folding_leaves_an_equation_whose_implementation_fails_on_its_constants():
    """Constant folding runs the implementation; when it raises (a value it refuses), the equation stays in
    the program, which raises when run, as the unoptimised one does; optimising never fails."""
    from tracing import ClosedJaxpr, Eqn, Jaxpr, Primitive, ShapedArray, Var
    from minigrad_fn.primitives import elementwise as E

    def impl(a):
        if np.any(a < 0):
            raise ValueError("refuses negative values")
        return np.sqrt(a)
    picky = Primitive("picky_sqrt", shape_rule=lambda a: a, impl=impl)
    f64 = np.dtype(np.float64)
    for shape in [(), (3,)]:
        c, x = Var(ShapedArray(shape, f64)), Var(ShapedArray(shape, f64))
        r, y = Var(ShapedArray(shape, f64)), Var(ShapedArray(shape, f64))
        jaxpr = Jaxpr([c], [x], [y], [Eqn(picky, [c], [r], {}), Eqn(E.add_p, [x, r], [y], {})])
        opt = optimize(ClosedJaxpr(jaxpr, [-np.ones(shape)]))
        assert names(opt) == ["picky_sqrt", "add"]
        with pytest.raises(mg.MinigradError, match="refuses negative"):
            mg.eval_jaxpr(opt.jaxpr, opt.consts, [np.ones(shape)])
        opt = optimize(ClosedJaxpr(jaxpr, [4 * np.ones(shape)]))  # the same program folds where it can
        assert names(opt) == ["add"]


def test_grad_of_the_lecture_net_is_no_bigger_than_jaxs():
    from minigrad_fn import demo
    args = (R.standard_normal((10, 5)), R.standard_normal((5, 3)), R.standard_normal((4, 10)),
            R.standard_normal((4, 3)))
    raw, opt = same_results(mg.grad(demo.two_layer_loss, argnums=(0, 1)), *args)
    assert len(opt.eqns) <= 23  # jax.make_jaxpr(jax.grad(...)) of the same function has 23 on jax 0.10
    # nothing trivial left: no multiplication by ones, no transposes, no equation whose result is unused
    assert not opt.consts and "transpose" not in names(opt)
    used = {v for e in opt.eqns for v in e.invars} | set(opt.jaxpr.outvars)
    assert all(v in used for e in opt.eqns for v in e.outvars)


def test_constants_that_are_outer_tracers_are_not_folded():
    # inside grad, a jitted function closing over grad's tracer: that constant is not a value to fold
    def outer(x):
        return mg.jit(lambda y: mnp.sin(x) * y)(2.0)

    np.testing.assert_allclose(mg.grad(outer)(0.3), 2 * np.cos(0.3))


def test_cse_tells_zero_from_negative_zero():
    x = np.array([1.0, -2.0])
    _, opt = same_results(lambda x: (x * 0.0, x * -0.0), x)
    out = mg.eval_jaxpr(opt.jaxpr, opt.consts, [x])
    assert np.signbit(out[1][0]) and not np.signbit(out[0][0])


def test_tracing_runs_with_the_garbage_collector_paused_and_restores_it():
    import gc
    seen = []
    mg.make_jaxpr(lambda x: seen.append(gc.isenabled()) or x * 2)(1.0)
    assert seen == [False] and gc.isenabled()
    gc.disable()
    try:
        mg.grad(lambda x: x * 2)(1.0)
        assert not gc.isenabled()  # a user's choice is left alone
    finally:
        gc.enable()


def test_typecheck_errors_name_the_place_the_variable_and_the_types():
    """Each of typecheck's refusals says where (constvars, invars, which equation, which body), what (the
    variable or both lists of types) and what to do (the hint), so a hand-built program can be fixed."""
    from tracing import Eqn, Jaxpr, ShapedArray, Var
    from tracing.errors import JaxprTypeError

    def refusal(jaxpr):
        with pytest.raises(JaxprTypeError) as info:
            mg.typecheck(jaxpr)
        assert "define each variable once" in info.value.hint  # what a valid program is
        return info.value.raw_message

    j = mg.make_jaxpr(lambda x: mnp.sin(x))(np.ones(3)).jaxpr
    x, sin_eqn = j.invars[0], j.eqns[0]
    assert refusal(Jaxpr([], [x, x], j.outvars, j.eqns)) == f"invars: variable {x} is defined twice"
    assert refusal(Jaxpr([x], [x], j.outvars, j.eqns)) == f"invars: variable {x} is defined twice"
    assert refusal(Jaxpr([x, x], [], j.outvars, j.eqns)) == f"constvars: variable {x} is defined twice"
    again = Eqn(sin_eqn.prim, sin_eqn.invars, [x], sin_eqn.params, sin_eqn.source)
    assert refusal(Jaxpr([], [x], [x], [again])).endswith(f": variable {x} is defined twice")
    assert refusal(Jaxpr([], [x], [x], [again])).startswith(f"equation 0 (sin at {__name__.split('.')[-1]}.py:")
    bare = Eqn(sin_eqn.prim, sin_eqn.invars, [x], sin_eqn.params)  # made by hand: no source
    assert refusal(Jaxpr([], [x], [x], [bare])) == f"equation 0 (sin): variable {x} is defined twice"
    wrong = Eqn(sin_eqn.prim, sin_eqn.invars, [Var(ShapedArray((3,), np.dtype(np.float32)))], sin_eqn.params,
                sin_eqn.source)
    msg = refusal(Jaxpr([], [x], wrong.outvars, [wrong]))
    assert msg.startswith("equation 0 (sin")
    assert msg.endswith("outputs are ['f32[3]'] but the shape rule gives ['f64[3]']")
    assert refusal(Jaxpr([], [], j.outvars, j.eqns)).endswith("reads a variable f64[3] before it is defined")
    assert refusal(Jaxpr([], [x], [Var(x.aval)], [])) == "output f64[3] is never defined"
    # a body's refusal names the equation holding it and the parameter
    call = mg.make_jaxpr(mg.jit(lambda x: mnp.sin(x)))(np.ones(3)).jaxpr
    outer = call.eqns[0]
    body = outer.params["jaxpr"]
    body = body.jaxpr if hasattr(body, "jaxpr") else body
    broken = Jaxpr(body.constvars, body.invars, [Var(body.outvars[0].aval)], body.eqns)
    params = dict(outer.params, jaxpr=broken if not hasattr(outer.params["jaxpr"], "jaxpr")
                  else type(outer.params["jaxpr"])(broken, outer.params["jaxpr"].consts))
    nested = Eqn(outer.prim, outer.invars, outer.outvars, params, outer.source)
    msg = refusal(Jaxpr(call.constvars, call.invars, call.outvars, [nested]))
    assert msg.startswith("equation 0 (") and ", in its jaxpr: output f64[3] is never defined" in msg
