"""check_rules over every primitive: each has an example generator (`rules["example"]`), its examples are valid
calls, and its VJP, JVP and batching rules agree with JAX, finite differences and a loop on them."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigrad_fn as mg
from minigrad_fn.checks import Sampler, check_rules
from minigrad_fn.primitives import all_primitives
from minigrad_fn.primitives import elementwise as E
from minigrad_fn.primitives import reductions as R
from tracing import ShapedArray

PRIMITIVES = all_primitives()


def test_every_primitive_has_an_example():
    assert sorted(n for n, p in PRIMITIVES.items() if "example" not in p.rules) == []


def test_check_rules_passes_on_every_primitive():
    assert sorted(check_rules(max_examples=5)) == sorted(PRIMITIVES)


def test_check_rules_with_many_examples(request):
    if not request.config.getoption("--slow"):
        pytest.skip("50 examples per primitive: run with --slow")
    assert sorted(check_rules(max_examples=50)) == sorted(PRIMITIVES)


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_examples_are_valid_calls(name):
    """20 drawn examples bind, to arrays of the shape and dtype the shape rule gives."""
    prim = PRIMITIVES[name]

    @settings(max_examples=20, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data):
        operands, params = prim.rules["example"](Sampler(data.draw))
        assert all(isinstance(x, np.ndarray) for x in operands), [type(x) for x in operands]
        want = prim.shape_rule(*[ShapedArray(x.shape, x.dtype) for x in operands], **params)
        out = prim.bind(*operands, **params)
        outs, wants = (list(out), list(want)) if prim.multiple_results else ([out], [want])
        assert [(np.shape(o), np.asarray(o).dtype) for o in outs] == [(w.shape, w.dtype) for w in wants]
    run()


# ---------------------------------------------------------------------------------------------
# Planted wrong rules: each kind is caught and named

def test_a_wrong_vjp_rule_is_caught(monkeypatch):
    bwd = E.tanh_p.rules["vjp"].bwd
    monkeypatch.setattr(bwd, "rules", [lambda g, ans, x: E.mul(g, E.sub(np.array(1.001, ans.dtype), E.mul(ans, ans)))])
    with pytest.raises(AssertionError) as e:
        mg.check_rules(["tanh", "sin"], max_examples=3)
    msg = str(e.value)
    assert "1 of 2 primitives fail" in msg and "tanh(float64" in msg and "VJP" in msg and "JVP" not in msg


def test_a_wrong_jvp_rule_is_caught(monkeypatch):
    right = E.sin_p.rules["jvp"]

    def wrong(primals, tangents, **params):
        outs, ts = right(primals, tangents, **params)
        return outs, [None if t is None else E.mul(t, np.array(0.999, t.dtype)) for t in ts]
    monkeypatch.setitem(E.sin_p.rules, "jvp", wrong)
    with pytest.raises(AssertionError, match=r"sin\(float64.*\n.*JVP") as e:
        mg.check_rules(["sin"], rules=("vjp", "jvp"), max_examples=3)
    assert "VJP" not in str(e.value)


def test_a_wrong_batching_rule_is_caught(monkeypatch):
    right = R.reduce_sum_p.rules["batch"]

    def wrong(args, dims, **params):
        outs, out_dims = right(args, dims, **params)
        return [E.mul(o, np.array(1.001, o.dtype)) for o in outs], out_dims
    monkeypatch.setitem(R.reduce_sum_p.rules, "batch", wrong)
    with pytest.raises(AssertionError, match="batching") as e:
        mg.check_rules(["reduce_sum"], max_examples=5)
    assert "reduce_sum(" in str(e.value)
