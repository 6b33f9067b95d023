"""The straight-line executor (`tracing.straight_line`) against the interpreter (`tracing.eval_jaxpr`): the same
values, each value deleted after its last use in the generated source, one function per jaxpr, and the
interpreter's error when an implementation fails."""
import re

import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from tracing import (Eqn, Jaxpr, MinigradError, OpError, Primitive, ShapedArray, ShapeError, Var,
                     eval_jaxpr, straight_line)

R = np.random.default_rng(11)
W = R.standard_normal((3, 4))


def _layer(x, W):
    h = mnp.tanh(x @ W)
    return h * 2.0, mnp.sum(h), x              # several outputs, one of them an input; a literal operand


def _with_constants(x):
    a, b = x[:1], x[1:]                         # W's column sums become a constant of the program
    return a * mnp.sum(W, axis=0)[:3], mnp.exp(b) - 1.0, 3.0


def _reuse(x, y):
    s = x * y
    return mnp.maximum(s, 0.5) + s * x - y / 2.0, s    # s read after other values die


PROGRAMS = {
    "layer": (_layer, (R.standard_normal((2, 3)), W)),
    "constants": (_with_constants, (R.standard_normal(3),)),
    "reuse": (_reuse, (R.standard_normal((2, 3)), R.standard_normal(3))),
    "float32": (_reuse, (R.standard_normal(4).astype(np.float32), np.float32(1.5))),
}


def _program(name):
    f, args = PROGRAMS[name]
    return mg.make_jaxpr(f)(*args), args


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_same_values_as_eval_jaxpr(name):
    closed, args = _program(name)
    want = eval_jaxpr(closed.jaxpr, closed.consts, list(args))
    got = straight_line(closed.jaxpr)(*closed.consts, *args)
    assert isinstance(got, list) and len(got) == len(want) == len(closed.out_avals)
    for g, w, aval in zip(got, want, closed.out_avals):
        assert np.shape(g) == np.shape(w) == aval.shape
        assert np.asarray(g).dtype == np.asarray(w).dtype == aval.dtype
        np.testing.assert_array_equal(g, w)


def test_an_output_that_is_an_input_is_that_input():
    closed, (x, w) = _program("layer")
    assert closed.jaxpr.outvars[2] is closed.jaxpr.invars[0]
    assert straight_line(closed.jaxpr)(x, w)[2] is x


def test_the_programs_have_what_the_tests_claim():
    closed, _ = _program("layer")
    assert any(type(v) is not Var for e in closed.jaxpr.eqns for v in e.invars)   # a literal operand
    closed, _ = _program("constants")
    assert closed.consts and type(closed.jaxpr.outvars[-1]) is not Var             # constants; a literal output


def _statements(source):
    lines = source.splitlines()
    assert lines[0].startswith("def program(")
    params = re.findall(r"\bv\d+\b", lines[0])
    return params, [line.strip() for line in lines[1:] if line.strip()]


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_source_deletes_each_value_right_after_its_last_use(name):
    closed, _ = _program(name)
    params, body = _statements(straight_line(closed.jaxpr).source)
    assert body[-1].startswith("return [")
    returned = set(re.findall(r"\bv\d+\b", body[-1]))
    deleted_at: dict = {}
    last_read: dict = {}
    defined = set(params)
    for i, stmt in enumerate(body[:-1]):
        if stmt.startswith("del "):
            for v in re.findall(r"\bv\d+\b", stmt):
                assert v not in deleted_at, f"{v} deleted twice:\n{stmt}"
                deleted_at[v] = i
            continue
        lhs, rhs = stmt.split(" = ")
        for v in re.findall(r"\bv\d+\b", rhs):
            assert v in defined and v not in deleted_at, f"{v} read after its del or before it exists: {stmt}"
            last_read[v] = i
        defined.update(re.findall(r"\bv\d+\b", lhs))
    assert deleted_at, "nothing is deleted"
    assert not returned & set(deleted_at), f"an output is deleted: {returned & set(deleted_at)}"
    for v, i in last_read.items():
        if v in returned:
            continue
        assert v in deleted_at, f"{v} is never deleted"
        assert deleted_at[v] == i + 1, f"{v} is last read by statement {i} but deleted at {deleted_at[v]}"
    assert set(deleted_at) <= set(last_read)


def test_cached_on_the_jaxpr():
    closed, _ = _program("layer")
    fn = straight_line(closed.jaxpr)
    assert straight_line(closed.jaxpr) is fn
    other, _ = _program("reuse")
    assert straight_line(other.jaxpr) is not fn


def test_a_failing_implementation_falls_back_to_the_interpreters_error():
    closed, (x, w) = _program("layer")
    prim = closed.jaxpr.eqns[0].prim
    assert prim.name == "dot_general"
    bad = np.ones((2, 5))
    with pytest.raises(Exception) as raw:    # the implementation alone: numpy's complaint, no operation named
        prim.impl(bad, w, **closed.jaxpr.eqns[0].params)
    assert not isinstance(raw.value, MinigradError)
    with pytest.raises(ShapeError, match=r"dot_general.*\(2, 5\)"):
        straight_line(closed.jaxpr)(bad, w)


def _one_equation(impl):
    """A jaxpr with one equation of a new primitive whose implementation is `impl`, and a call counter."""
    calls = []

    def counted(x):
        calls.append(x)
        return impl(x)
    prim = Primitive("boom", shape_rule=lambda a: a, impl=counted)
    aval = ShapedArray((3,), np.dtype(np.float64))
    x, y = Var(aval), Var(aval)
    return Jaxpr([], [x], [y], [Eqn(prim, [x], [y], {})]), calls


def test_the_fallback_runs_the_interpreter_whose_error_names_the_operation():
    def fails(x):
        raise FloatingPointError("no")
    jaxpr, calls = _one_equation(fails)
    with pytest.raises(OpError, match=r"boom failed on operands \(f64\[3\]\): FloatingPointError: no"):
        straight_line(jaxpr)(np.ones(3))
    assert len(calls) == 2                     # the generated function, then eval_jaxpr
    jaxpr, calls = _one_equation(np.negative)
    np.testing.assert_array_equal(straight_line(jaxpr)(np.ones(3))[0], -np.ones(3))
    assert len(calls) == 1


def test_the_librarys_own_errors_are_raised_as_they_are():
    def refuses(x):
        raise ShapeError("boom refuses")
    jaxpr, calls = _one_equation(refuses)
    with pytest.raises(ShapeError, match="boom refuses"):
        straight_line(jaxpr)(np.ones(3))
    assert len(calls) == 1                     # no second run through the interpreter


def test_constants_come_first():
    closed, (x,) = _program("constants")
    fn = straight_line(closed.jaxpr)
    want = eval_jaxpr(closed.jaxpr, closed.consts, [x])
    np.testing.assert_array_equal(fn(*closed.consts, x)[0], want[0])
    doubled = [2 * c for c in closed.consts]
    np.testing.assert_array_equal(fn(*doubled, x)[0], eval_jaxpr(closed.jaxpr, doubled, [x])[0])
    assert not np.array_equal(fn(*doubled, x)[0], want[0])
