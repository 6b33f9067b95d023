"""The tracing package on its own: IR, printer, type checker, DCE, interpreter, nested traces."""
import gc
import pathlib
import re
import weakref

import numpy as np
import pytest

import tracing
from tracing import (ClosedJaxpr, Eqn, Jaxpr, JaxprTypeError, Literal, Primitive, ShapedArray, Var,
                     dce, eval_jaxpr, make_jaxpr, typecheck)

F64 = np.dtype(np.float64)

# A toy primitive set, to show tracing works without minigrad_fn.
double_p = Primitive("double", lambda x: x, lambda x: x * 2)
plus_p = Primitive("plus", lambda x, y: x, np.add)
split_p = Primitive("split2", lambda x: [x, x], lambda x: [x, -x], multiple_results=True)


def double(x):
    return double_p.bind(x)


def plus(x, y):
    return plus_p.bind(x, y)


def test_tracing_never_imports_minigrad_fn():
    root = pathlib.Path(tracing.__file__).parent
    for path in root.glob("*.py"):
        assert not re.search(r"^\s*(from|import)\s+minigrad_fn", path.read_text(), re.M), path


def test_toy_primitives_trace_print_and_evaluate():
    def f(x, y):
        a = double(x)
        b, c = split_p.bind(a)
        return plus(b, y), c

    closed = make_jaxpr(f)(np.ones(3), np.ones(3))
    assert str(closed) == (
        "{ lambda ; a:f64[3] b:f64[3]. let\n"
        "    c:f64[3] = double a\n"
        "    d:f64[3] e:f64[3] = split2 c\n"
        "    f:f64[3] = plus d b\n"
        "  in (f, e) }")
    typecheck(closed.jaxpr)
    out = eval_jaxpr(closed.jaxpr, closed.consts, [np.arange(3.0), np.ones(3)])
    np.testing.assert_array_equal(out[0], [1, 3, 5])
    np.testing.assert_array_equal(out[1], [0, -2, -4])
    assert closed.in_avals == [ShapedArray((3,), F64)] * 2
    assert [str(a) for a in closed.out_avals] == ["f64[3]", "f64[3]"]


def test_constants_literals_and_dead_code():
    big = np.arange(4.0)

    def f(x):
        unused = double(x)  # noqa: F841  dead
        return plus(plus(x, big), np.float64(2.0))

    closed = make_jaxpr(f)(np.zeros(4))
    assert str(closed) == (
        "{ lambda a:f64[4]; b:f64[4]. let\n"
        "    c:f64[4] = plus b a\n"
        "    d:f64[4] = plus c 2.0:f64[]\n"
        "  in (d,) }")
    assert closed.consts[0] is big


def test_dce_keeps_only_what_reaches_the_outputs():
    a, b, c = (Var(ShapedArray((), F64)) for _ in range(3))
    live = Eqn(double_p, [a], [b], {})
    dead = Eqn(double_p, [a], [c], {})
    j = dce(Jaxpr([], [a], [b], [dead, live]))
    assert j.eqns == [live]


def test_typecheck_finds_ill_typed_programs():
    a, b = Var(ShapedArray((3,), F64)), Var(ShapedArray((4,), F64))
    with pytest.raises(JaxprTypeError, match="shape rule"):
        typecheck(Jaxpr([], [a], [b], [Eqn(double_p, [a], [b], {})]))
    c = Var(ShapedArray((3,), F64))
    with pytest.raises(JaxprTypeError, match="before it is defined"):
        typecheck(Jaxpr([], [a], [c], [Eqn(plus_p, [a, c], [c], {})]))
    with pytest.raises(JaxprTypeError, match="never defined"):
        typecheck(Jaxpr([], [a], [c], []))


def test_interpreter_frees_each_value_after_its_last_use():
    alive_at_step = []
    refs = []

    def spy_impl(x):
        gc.collect()
        alive_at_step.append([r() is not None for r in refs])
        out = x + 1.0
        refs.append(weakref.ref(out))
        return out

    spy_p = Primitive("spy", lambda x: x, spy_impl)
    closed = make_jaxpr(lambda x: spy_p.bind(spy_p.bind(spy_p.bind(x))))(np.zeros(1000))
    out = eval_jaxpr(closed.jaxpr, closed.consts, [np.zeros(1000)])
    np.testing.assert_array_equal(out[0], np.full(1000, 3.0))
    # when step k runs, only its own input (step k-1's output) is still alive
    assert alive_at_step == [[], [True], [False, True]]


def test_literal_printing_and_eval():
    lit = Literal(np.float32(1.5), ShapedArray((), np.dtype(np.float32)))
    assert lit.str_short() == "1.5:f32[]"
    x = Var(ShapedArray((), np.dtype(np.float32)))
    y = Var(ShapedArray((), np.dtype(np.float32)))
    closed = ClosedJaxpr(Jaxpr([], [x], [y], [Eqn(plus_p, [x, lit], [y], {})]), [])
    assert float(eval_jaxpr(closed.jaxpr, [], [np.float32(1.0)])[0]) == 2.5


def test_abstract_tracers_refuse_concrete_use_and_leaks_are_caught():
    leaked = []

    def f(x):
        leaked.append(x)
        if x:
            return x
        return x

    with pytest.raises(tracing.ConcretizationError, match="bool"):
        make_jaxpr(f)(np.ones(()))
    with pytest.raises(tracing.LeakedTracerError):
        double(leaked[0])


def test_nested_traces_record_the_inner_trace_into_the_outer():
    # an inner make_jaxpr sees the outer tracer as a constant; the outer records nothing from it
    def outer(y):
        inner = make_jaxpr(lambda x: plus(x, y))(np.zeros(2))
        assert len(inner.consts) == 1 and isinstance(inner.consts[0], tracing.Tracer)
        return double(y)

    closed = make_jaxpr(outer)(np.zeros(2))
    assert [e.prim.name for e in closed.eqns] == ["double"]


def test_arguments_must_be_arrays():
    with pytest.raises(tracing.ArgumentError, match="str"):
        make_jaxpr(double)("hello")
