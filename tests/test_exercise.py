"""check_my_grads: a student's hand-derived gradients against the library's (mg.vjp's numbers), named by
the table's names, parameter names and the student's own variable names; the first gate where they part,
explained with its local rule and numbers; the classic mistakes named; clear errors for bad input."""
import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from minigrad_fn.exercise import check_my_grads


def add_mul(x, y, z):
    q = x + y
    return q * z


ARGS = (-2.0, 5.0, -4.0)
LINE_Q = add_mul.__code__.co_firstlineno + 1       # q = x + y
LINE_RETURN = add_mul.__code__.co_firstlineno + 2  # return q * z


def neuron(w, x):
    s = w[0] * x[0] + w[1] * x[1] + w[2]
    return 1 / (1 + mnp.exp(-s))


W_NEURON, X_NEURON = np.array([2.0, -3.0, -3.0]), np.array([-1.0, -2.0])


def squared_norm(W, x):
    q = W @ x
    return mnp.sum(q ** 2)


W_VEC, X_VEC = np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])


def test_the_lectures_answers_agree_by_every_kind_of_name():
    by_name = check_my_grads(add_mul, ARGS, {"q": -4.0, "z": 3.0, "x": -4.0, "y": -4.0})
    assert by_name and by_name.ok and by_name.first_wrong is None and by_name.message == ""
    assert [(a.name, a.table_name, float(a.right)) for a in by_name.answers] == [
        ("q", "a", -4.0), ("z", "z", 3.0), ("x", "x", -4.0), ("y", "y", -4.0)]
    assert by_name.answers[0].where == f"line {LINE_Q}: `q = x + y`"
    assert check_my_grads(add_mul, ARGS, {"a": -4.0, "b": 1.0})  # the table's names
    assert check_my_grads(add_mul, ARGS, (-4.0, -4.0, 3.0))      # one per positional argument
    assert check_my_grads(add_mul, ARGS, [None, -4.0, None])
    text = str(by_name)
    assert text.splitlines()[0] == "check_my_grads(add_mul): 4 of 4 gradients agree with the library's " \
                                   "(rtol 1e-06, atol 1e-06)"
    assert "q (a in the table)  -4.00  -4.00  ok" in text


def test_mul_not_switched_is_found_at_the_mul_gate():
    result = check_my_grads(add_mul, ARGS, {"q": 3.0, "z": 3.0})
    assert not result and result.first_wrong.name == "q"
    assert (f"At the mul gate of line {LINE_RETURN} (`return q * z`), your downstream gradient for q is "
            "3.00; local (z = -4.00) x upstream (1.00) = -4.00.") in result.message
    assert "mul switches" in result.message and "OTHER input (here z)" in result.message
    assert "1 of 2 gradients agree" in str(result) and "WRONG" in str(result)


def test_the_first_wrong_gate_in_backward_order_is_blamed():
    # q wrong, and x, y wrong because of it (consistent with the wrong q): the mul gate is to blame
    result = check_my_grads(add_mul, ARGS, {"x": 3.0, "y": 3.0, "q": 3.0, "z": 3.0})
    assert result.first_wrong.name == "q" and "the mul gate" in result.message
    # q right, x wrong: the add gate is to blame, with the student's q as its upstream
    result = check_my_grads(add_mul, ARGS, {"x": 4.0, "y": -4.0, "q": -4.0, "z": 3.0})
    assert result.first_wrong.name == "x"
    assert (f"At the add gate of line {LINE_Q} (`q = x + y`), your downstream gradient for x is 4.00; "
            "local (1) x upstream (-4.00) = -4.00.") in result.message
    assert "wrong sign" in result.message and "you gave none" not in result.message


def test_an_upstream_not_given_is_said_to_be_the_librarys():
    result = check_my_grads(add_mul, ARGS, {"x": 4.0})
    assert "you gave none for q" in result.message  # the user's name, not the table's a
    assert "you gave none for" not in check_my_grads(add_mul, ARGS, {"q": 3.0}).message  # b is the output


def test_forgotten_minus_of_sub():
    def diff_squared(x, y):
        d = x - y
        return d * d

    result = check_my_grads(diff_squared, (3.0, 1.0), {"d": 4.0, "x": 4.0, "y": 4.0})
    assert result.first_wrong.name == "y" and float(result.first_wrong.right) == -4.0
    line = diff_squared.__code__.co_firstlineno + 1
    assert (f"At the sub gate of line {line} (`d = x - y`), your downstream gradient for y is 4.00; "
            "local (-1) x upstream (4.00) = -4.00.") in result.message
    assert "sub sends back MINUS the upstream gradient to the input it subtracts" in result.message


def test_not_adding_at_a_branch():
    def branches(x, y):
        a = x * y
        return a + mnp.maximum(a, x)

    result = check_my_grads(branches, (2.0, 3.0), {"x": 3.0})  # a's part only, upstream 1 forgotten too
    assert "x branches: it is used 2 times, and gradients add at a branch: 6.00 + 0.00 = 6.00" in result.message
    assert "local (y = 3.00) x upstream (2.00) = 6.00" in result.message
    assert "local (1 if x > a else 0 = 0.00) x upstream (1.00) = 0.00" in result.message

    def uses_twice(x, y):
        a = x * y
        return a * 2.0 + mnp.exp(a)

    right = float(mg.grad(uses_twice, argnums=0)(0.5, 1.5))
    part = 1.5 * 2.0
    result = check_my_grads(uses_twice, (0.5, 1.5), {"a": 2.0})
    assert result.first_wrong.name == "a" and np.isclose(float(result.first_wrong.right), right / 1.5)
    assert "Yours is only the part from the mul gate" in result.message
    result = check_my_grads(uses_twice, (0.5, 1.5), {"a": right / 1.5, "x": part})
    assert result.first_wrong.name == "x" and "mul switches" not in result.message


def test_a_value_returned_and_used():
    def passthru(x, y):
        return x, x * y

    result = check_my_grads(passthru, (2.0, 3.0), {"x": 3.0, "y": 2.0})
    assert float(result.first_wrong.right) == 4.0
    assert "3.00 + 1.00 = 4.00" in result.message and "x is an output of passthru" in result.message
    assert "Yours is only the part from the mul gate" in result.message


def test_the_sigmoid_neuron_with_the_slides_rounded_numbers():
    slide = {"s": 0.20, "w": [-0.20, -0.39, 0.20], "x": [0.39, -0.59]}
    assert check_my_grads(neuron, (W_NEURON, X_NEURON), slide, atol=0.01)
    strict = check_my_grads(neuron, (W_NEURON, X_NEURON), slide)
    assert not strict and strict.first_wrong.name == "s"
    assert "0.200" in str(strict) and "0.197" in str(strict)  # enough digits to tell them apart
    forgot_neg = check_my_grads(neuron, (W_NEURON, X_NEURON), {"s": -0.1966}, atol=1e-3)
    line = neuron.__code__.co_firstlineno + 2
    assert f"At the neg gate of line {line}" in forgot_neg.message
    assert "neg sends back MINUS the upstream gradient to its input" in forgot_neg.message


def test_vectorized_example_names_the_product_as_the_lecture():
    right = {"q": [0.44, 0.52], "W": [[0.088, 0.176], [0.104, 0.208]], "x": [-0.112, 0.636]}
    assert check_my_grads(squared_norm, (W_VEC, X_VEC), right)
    transposed = dict(right, W=[[0.088, 0.104], [0.176, 0.208]])
    result = check_my_grads(squared_norm, (W_VEC, X_VEC), transposed)
    assert result.first_wrong.name == "W"
    assert "the gate sends back upstream x^T: with upstream f64[2] [0.44, 0.52]" in result.message
    assert "transpose of the right gradient" in result.message
    result = check_my_grads(squared_norm, (W_VEC, X_VEC), dict(right, x=[0.112, 0.636]))
    assert "the gate sends back W^T upstream" in result.message and "you gave none" not in result.message
    result = check_my_grads(squared_norm, (W_VEC, X_VEC), dict(right, q=[0.22, 0.26]))
    assert "local (2*q = f64[2] [0.44, 0.52]) x upstream (f64[2] [1.00, 1.00])" in result.message
    assert "That is the upstream gradient passed on unchanged" not in result.message


def test_rights_are_mg_vjps_numbers():
    def f(x, W, b):
        h = mnp.tanh(W @ x + b)
        m = mnp.maximum(h, 0.0)
        return mnp.sum(m * m) - mnp.log(1.0 + mnp.exp(h[0]))

    rng = np.random.default_rng(0)
    args = (rng.normal(size=3), rng.normal(size=(2, 3)), rng.normal(size=2))
    _, pullback = mg.vjp(f, *args)
    grads = pullback(1.0)
    result = check_my_grads(f, args, grads, rtol=1e-12, atol=1e-12)
    assert result and [a.name for a in result.answers] == ["x", "W", "b"]
    for a, g in zip(result.answers, grads):
        np.testing.assert_array_equal(a.right, g)
    # an intermediate's gradient: d f / d h by the chain rule written out
    h = np.tanh(args[1] @ args[0] + args[2])
    dh = 2 * np.maximum(h, 0) - np.array([np.exp(h[0]) / (1 + np.exp(h[0])), 0.0])
    assert check_my_grads(f, args, {"h": dh}, rtol=1e-12, atol=1e-12)
    wrong = check_my_grads(f, args, {"h": dh + [0.0, 0.01]})
    assert "h branches" in wrong.message  # used by maximum and by h[0]


def test_names_in_loops_and_rebound_parameters():
    def loop(h, w):
        for _ in range(3):
            v = mnp.tanh(h * w)
            h = v
        return h

    args = (0.5, 1.5)
    result = check_my_grads(loop, args, {"h": float(mg.grad(loop)(*args))})
    assert result and result.answers[0].where == "input"  # a parameter's name means the input
    table = mg.explain(loop)(*args)
    last_tanh = table.rows[0]  # v: the last run of its line
    assert check_my_grads(loop, args, {"v": 1.0}) and last_tanh.equation.startswith("f = tanh")
    assert check_my_grads(loop, args, {"v": 1.0}).answers[0].table_name == "f"


def test_pytree_arguments():
    def layer(p, x):
        h = mnp.tanh(p["W"] @ x + p["b"])
        return mnp.sum(h)

    p, x = {"W": np.eye(2), "b": np.zeros(2)}, np.array([1.0, -1.0])
    gp = mg.grad(layer)(p, x)
    result = check_my_grads(layer, (p, x), {"p": {"W": gp["W"], "b": list(gp["b"])}})
    assert result and [a.name for a in result.answers] == ["p['W']", "p['b']"]
    assert check_my_grads(layer, (p, x), {"p['b']": gp["b"]})
    with pytest.raises(mg.ArgumentError, match="not structured as p"):
        check_my_grads(layer, (p, x), {"p": {"W": gp["W"]}})


def test_errors_name_the_problem_and_what_exists():
    with pytest.raises(mg.ArgumentError) as e:
        check_my_grads(add_mul, ARGS, {"p": 1.0})
    assert "add_mul has no value called 'p'" in str(e.value)
    assert "The names are: x, y, z, a, b, q (= a)" in str(e.value)
    with pytest.raises(mg.ShapeError, match=r"your gradient for q has shape \(2,\), but q has shape \(\)"):
        check_my_grads(add_mul, ARGS, {"q": [1.0, 2.0]})
    with pytest.raises(mg.ShapeError, match="always has that variable's shape"):
        check_my_grads(squared_norm, (W_VEC, X_VEC), {"W": [0.1, 0.2]})
    with pytest.raises(mg.ArgumentError, match="`mine` has 2 entries for 3 arguments"):
        check_my_grads(add_mul, ARGS, (1.0, 2.0))
    with pytest.raises(mg.ArgumentError, match="must be a dict or a tuple"):
        check_my_grads(add_mul, ARGS, 1.0)
    with pytest.raises(mg.DTypeError, match="not a number"):
        check_my_grads(add_mul, ARGS, {"x": "four"})
    with pytest.raises(mg.ArgumentError, match="int64: it has no gradient"):
        check_my_grads(lambda x, n: x * n, (2.0, np.int64(3)), {"n": 1.0})

    def clash(x, y):
        q = x * y
        a = q + 1.0
        return a * a

    result = check_my_grads(clash, (1.0, 2.0), {"a": 6.0, "q": 6.0})  # your variable a wins over the table's
    assert result and [(x.name, x.table_name) for x in result.answers] == [("a", "b"), ("q", "a")]
    assert "a (b in the table)" in str(result)


def test_no_gradient_reaches_a_value_through_a_step():
    def f(x, y):
        u = mnp.floor(x)
        return u + y

    result = check_my_grads(f, (1.5, 2.0), {"x": 1.0, "y": 1.0})
    assert result.first_wrong.name == "x"
    assert "No gradient reaches x: the gates that use it send nothing back: the floor gate" in result.message
    assert "step function" in result.message
    with pytest.raises(mg.ArgumentError, match="the library computes no gradient for u"):
        check_my_grads(f, (1.5, 2.0), {"u": 1.0})  # floor's output: backprop never visits it


def test_without_source_only_the_tables_names_and_the_parameters():
    namespace = {"mnp": mnp}
    exec(compile("def f(x, y):\n    q = x * y\n    return mnp.sin(q)\n", "<typed in>", "exec"), namespace)
    f = namespace["f"]
    assert check_my_grads(f, (1.0, 2.0), {"a": np.cos(2.0), "x": 2 * np.cos(2.0)})
    with pytest.raises(mg.ArgumentError, match="that of <typed in> cannot be read here"):
        check_my_grads(f, (1.0, 2.0), {"q": 1.0})
