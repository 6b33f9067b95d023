"""mg.check_grads: passes on right rules, and names the leaf, the errors and the program on wrong ones."""
import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from helpers import marked_line
from minigrad_fn.primitives import elementwise as E

R = np.random.default_rng(3)


def net(p, x, labels):
    h = mnp.tanh(x @ p["W1"] + p["b1"])
    logits = h @ p["W2"]
    m = mnp.max(logits, axis=1, keepdims=True)
    logp = logits - m - mnp.log(mnp.sum(mnp.exp(logits - m), axis=1, keepdims=True))
    return -mnp.mean(logp[mnp.arange(x.shape[0]), labels]), mnp.argmax(logits, axis=1)


def params(dtype=np.float64):
    return ({"W1": R.standard_normal((4, 6)).astype(dtype), "b1": R.standard_normal(6).astype(dtype),
             "W2": R.standard_normal((6, 3)).astype(dtype)},
            R.standard_normal((5, 4)).astype(dtype), R.integers(0, 3, 5))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_passes_on_a_network_with_pytrees_integer_inputs_and_outputs(dtype):
    mg.check_grads(net, params(dtype), order=2)


def test_vector_valued_and_scalar_arguments():
    mg.check_grads(lambda x, s: mnp.sin(x) * s ** 2 + mnp.cumsum(x[::-1]), (R.standard_normal(4), 1.3), order=2)


@pytest.fixture
def broken_tanh():
    """tanh' off by 0.1%: small enough to hide in a loss curve, a wrong gradient all the same."""
    bwd = E.tanh_p.rules["vjp"].bwd
    old = bwd.rules
    bwd.rules = [lambda g, ans, x: E.mul(g, E.sub(np.array(1.001, ans.dtype), E.mul(ans, ans)))]
    yield
    bwd.rules = old


def test_a_wrong_rule_is_reported_with_leaf_errors_and_program(broken_tanh):
    with pytest.raises(AssertionError) as e:
        mg.check_grads(net, params())
    msg = str(e.value)
    assert "gradient w.r.t. argument p['W1']" in msg and "jax.vjp of the same program" in msg
    assert "max abs error" in msg and "max rel error" in msg
    assert "tanh" in msg and "dot_general" in msg  # the equations of the program


def test_finite_differences_catch_what_jax_would_share(broken_tanh, monkeypatch):
    # If the lowering computed the same wrong derivative (here: JAX never asked), the finite differences
    # still disagree: make JAX's side agree with ours by checking against a "reference" built from ours.
    import minigrad_fn.checks as C
    monkeypatch.setattr(C, "_RTOL", {np.dtype(np.float64): 1.0})
    with pytest.raises(AssertionError, match="central finite differences"):
        mg.check_grads(lambda x: mnp.sum(mnp.tanh(x) ** 2), (R.standard_normal(3),))


def test_order_2_catches_a_rule_right_only_at_first_order():
    # tanh' written with stop_gradient on the output: first derivatives are right, second ones are not
    bwd = E.tanh_p.rules["vjp"].bwd
    old = bwd.rules
    bwd.rules = [lambda g, ans, x: E.mul(g, E.sub(np.array(1.0, ans.dtype), E.stop_gradient(E.mul(ans, ans))))]
    try:
        f = lambda x: mnp.sum(mnp.tanh(x) * x)  # noqa: E731
        mg.check_grads(f, (R.standard_normal(3),), order=1)
        # JAX agrees with us here (stop_gradient lowers to lax.stop_gradient): the finite differences do not
        with pytest.raises(AssertionError, match=r"check_grads\(vjp\(<lambda>\)\): gradient w.r.t. argument x: "
                                                 "ours vs central finite"):
            mg.check_grads(f, (R.standard_normal(3),), order=2)
    finally:
        bwd.rules = old


def test_a_wrong_lowering_is_caught_by_the_forward_comparison():
    old = E.sin_p.rules["lower"]
    E.sin_p.rules["lower"] = lambda x: E.lax.cos(x)
    try:
        with pytest.raises(AssertionError, match="our value vs the IR lowered to JAX"):
            mg.check_grads(lambda x: mnp.sum(mnp.sin(x)), (R.standard_normal(3),))
    finally:
        E.sin_p.rules["lower"] = old


def test_nothing_to_differentiate_and_bad_order():
    mg.check_grads(lambda i: i * 2, (np.arange(3),))  # integer inputs only: nothing to check, no error
    with pytest.raises(ValueError, match="order"):
        mg.check_grads(lambda x: x, (1.0,), order=0)


def test_forward_mode_is_checked_too_and_a_wrong_jvp_rule_is_caught(monkeypatch):
    f = lambda x: mnp.sum(mnp.tanh(x) * x)  # noqa: E731
    mg.check_grads(f, (R.standard_normal(3),), modes=("rev", "fwd"), order=2)
    jvp = E.tanh_p.rules["jvp"]

    def wrong(primals, tangents, **params):  # tanh' off by 0.1%
        outs, ts = jvp(primals, tangents, **params)
        return outs, [None if t is None else E.mul(t, np.array(1.001, t.dtype)) for t in ts]
    monkeypatch.setitem(E.tanh_p.rules, "jvp", wrong)
    mg.check_grads(f, (R.standard_normal(3),), modes=("rev",))  # reverse mode does not use it
    with pytest.raises(AssertionError, match="tangent of output 0: ours vs jax.jvp of the same program"):
        mg.check_grads(f, (R.standard_normal(3),), modes=("fwd",))


# ---------------------------------------------------------------------------------------------
# Naming the wrong rule: the first equation whose own rule disagrees, with its user line

THIS_FILE = __file__


def line_of(marker: str) -> str:
    return f"{THIS_FILE}:{marked_line(THIS_FILE, marker)}"


def two_layers(W1, W2, x):
    h = mnp.sin(x @ W1)  # @sin-layer
    z = mnp.tanh(h @ W2)  # @tanh-layer
    return mnp.sum(z * z)


def layers_args():
    return R.standard_normal((4, 5)), R.standard_normal((5, 3)), R.standard_normal((2, 4))


def blamed(e) -> str:
    msg = str(e.value)
    assert "rule is wrong on its own inputs" in msg, msg
    return msg[msg.index("rule is wrong on its own inputs"):]


@pytest.mark.parametrize("wrap", [lambda f: f, lambda f: mg.jit(f), lambda f: mg.jit(mg.jit(f))],
                         ids=["plain", "jit", "nested-jit"])
def test_a_wrong_vjp_rule_is_named_with_the_user_line(broken_tanh, wrap):
    with pytest.raises(AssertionError) as e:
        mg.check_grads(wrap(two_layers), layers_args())
    text = blamed(e)
    assert "VJP rule" in str(e.value)
    assert text.count("\n  at ") == 1 and "tanh(float64[2, 3])" in text, text  # not sin, not dot_general
    assert line_of("tanh-layer") in text and "mnp.tanh(h @ W2)" in text, text
    assert "tanh's vjp at test_check_grads.py:" in text, text  # where the wrong rule is written


def test_a_wrong_vjp_rule_of_a_non_elementwise_primitive(monkeypatch):
    from minigrad_fn.primitives import linalg as L
    from minigrad_fn.primitives._base import VJP
    right = L.dot_general_p.rules["vjp"]

    def bwd(eqn, res, cts, wanted):  # the cotangent of the second operand only is off by 0.1%
        out = right.bwd(eqn, res, cts, wanted)
        return [out[0], None if out[1] is None else E.mul(out[1], np.array(1.001, out[1].dtype))]
    monkeypatch.setitem(L.dot_general_p.rules, "vjp", VJP(bwd, right.reads, right.reads_ans, right.fwd))
    with pytest.raises(AssertionError) as e:
        mg.check_grads(two_layers, layers_args())
    text = blamed(e)
    assert "dot_general(float64[2, 4], float64[4, 5]" in text and line_of("sin-layer") in text, text
    assert "w.r.t. operand 1" in text and "w.r.t. operand 0" not in text, text


def test_a_wrong_jvp_rule_is_named(monkeypatch):
    jvp = E.sin_p.rules["jvp"]

    def wrong(primals, tangents, **params):
        outs, ts = jvp(primals, tangents, **params)
        return outs, [None if t is None else E.mul(t, np.array(0.999, t.dtype)) for t in ts]
    monkeypatch.setitem(E.sin_p.rules, "jvp", wrong)
    with pytest.raises(AssertionError) as e:
        mg.check_grads(two_layers, layers_args(), modes=("fwd",))
    text = blamed(e)
    assert "JVP rule" in str(e.value) and "sin(float64[2, 5])" in text and line_of("sin-layer") in text, text
    assert "sin's jvp at test_check_grads.py:" in text, text


def test_blame_says_so_when_every_rule_agrees_on_its_own():
    from minigrad_fn.checks import blame
    assert "Every equation's VJP rule agrees" in blame(two_layers, layers_args())
