"""Each primitive's display knowledge (its gate label, shown parameters, Jacobian kind, local gradient in
words, gate pattern) sits in its block, as `prim.rules["display"]`; graph.py and explain.py only read it."""
import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.lax as lax
from minigrad_fn import primitives
from minigrad_fn.graph import display_of, gate_label, param_text
from minigrad_fn.primitives._base import KINDS, Display


def test_every_primitive_has_display_knowledge():
    missing = [name for name, p in primitives.all_primitives().items()
               if not isinstance(p.rules.get("display"), Display)]
    assert not missing, f"primitives without a display (give their block a Display): {missing}"


def test_display_kinds_are_checked():
    assert {d.kind for d in map(display_of, primitives.all_primitives().values())} == set(KINDS)
    with pytest.raises(ValueError, match="diagonal"):
        Display(kind="diagonal")


def _eqn(fun, *args):
    closed = mg.make_jaxpr(fun, optimize=False)(*args)
    assert len(closed.eqns) == 1
    return closed.eqns[0]


def test_spot_checks():
    x, m = np.arange(3.0), np.arange(6.0).reshape(2, 3)
    assert display_of(lax.reduce_sum_p).short == "sum"
    assert display_of(lax.reduce_sum_p).local.startswith("1 for each summed entry")
    assert display_of(lax.mul_p).kind == "elementwise"
    assert display_of(lax.mul_p).pattern.startswith("mul switches")
    assert display_of(lax.reshape_p).kind == "moves"
    assert display_of(lax.stop_gradient_p).local == "0: nothing flows back"
    assert display_of(lax.sign_p).kind == "other"  # piecewise constant: no local gradient to show
    cases = [
        (lambda a: lax.reduce_max(a, (1,)), (m,), "max axes=(1,)"),
        (lambda a: lax.integer_pow(a, 3), (x,), "pow y=3"),
        (lambda a: lax.slice(a, (0,), (3,), (2,)), (x,), "slice [0:3:2]"),
        (lambda a: lax.reshape(a, (3, 2)), (m,), "reshape to f64[3,2]"),
        (lambda a: lax.transpose(a, (1, 0)), (m,), "transpose perm=(1, 0)"),
        (lambda a: lax.dot_general(a, a, (((1,), (1,)), ((), ()))), (m,), "dot"),
        (lambda a: lax.logistic(a), (x,), "sigmoid"),
        (lambda a: lax.convert_element_type(a, np.float32), (x,), "convert new_dtype=float32"),
    ]
    for fun, args, label in cases:
        assert gate_label(_eqn(fun, *args)) == label


def test_a_primitive_without_a_display_shows_its_name_and_params():
    shift = lax.primitive("shift", lambda x, *, by: x, lambda x, *, by: x + by, [lambda g, ans, x, *, by: g])
    eqn = _eqn(lambda a: shift.bind(a, by=2.0), np.arange(3.0))
    assert "display" not in shift.rules
    assert display_of(shift) == Display()
    assert gate_label(eqn) == "shift by=2.0"
    table = mg.explain(lambda a: lax.reduce_sum(shift.bind(a, by=2.0), (0,)))(np.ones(2))
    assert "the gate's own backward rule" in str(table) and "J^T" not in str(table)


def test_a_jit_call_shows_its_function_name():
    def inner(a):
        return a * 2.0

    eqn = _eqn(lambda a: mg.jit(inner)(a), np.arange(3.0))
    assert param_text(eqn) == "inner"


def test_the_package_and_lax_export_every_family_name():
    for family in (primitives.elementwise, primitives.reductions, primitives.shape, primitives.linalg,
                   primitives.indexing):
        for name in family.__all__:
            public = name.removesuffix("_")  # abs_ is exported as abs, slice_ as slice...
            assert getattr(primitives, public) is getattr(family, name), name
            assert getattr(lax, public) is getattr(family, name), name
    assert lax.slice is primitives.shape.slice_ and lax.max is primitives.elementwise.max_
