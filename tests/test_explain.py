"""mg.explain: backprop step by step, with the lecture's numbers and gate patterns."""
import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from minigrad_fn import nn


def add_mul(x, y, z):
    return (x + y) * z


def neuron(w0, x0, w1, x1, w2):
    return 1 / (1 + mnp.exp(-(w0 * x0 + w1 * x1 + w2)))


NEURON_ARGS = (2.0, -1.0, -3.0, -2.0, -3.0)


def numbers(row):
    return [(op.name, float(op.local), float(op.downstream)) for op in row.operands]


def test_add_mul_rows_in_backward_order():
    t = mg.explain(add_mul)(-2.0, 5.0, -4.0)
    mul, add = t.rows
    assert (mul.step, mul.equation, float(mul.value), float(mul.upstream)) == (2, "b = mul a z", -12.0, 1.0)
    assert numbers(mul) == [("a", -4.0, -4.0), ("z", 3.0, 3.0)]
    assert mul.pattern.startswith("mul switches")
    assert (add.step, add.equation, float(add.value), float(add.upstream)) == (1, "a = add x y", 3.0, -4.0)
    assert numbers(add) == [("x", 1.0, -4.0), ("y", 1.0, -4.0)]
    assert add.pattern.startswith("add distributes")
    assert [(i.name, float(i.grad)) for i in t.inputs] == [("x", -4.0), ("y", -4.0), ("z", 3.0)]


def test_neuron_rows_are_the_slide():
    t = mg.explain(neuron)(*NEURON_ARGS)
    r = {row.equation.split(" = ")[1].split()[0] + str(row.step): row for row in t.rows}
    assert [row.step for row in t.rows] == list(range(8, 0, -1))
    div, exp, neg = r["div8"], r["exp6"], r["neg5"]
    assert round(float(div.value), 2) == 0.73 and round(float(div.operands[0].local), 2) == -0.53
    assert round(float(exp.upstream), 2) == -0.53 and round(float(exp.operands[0].local), 2) == 0.37
    assert round(float(exp.operands[0].downstream), 2) == -0.20
    assert float(neg.operands[0].local) == -1.0 and round(float(neg.operands[0].downstream), 2) == 0.20
    grads = [round(float(i.grad), 2) for i in t.inputs]
    assert grads == [-0.20, 0.39, -0.39, -0.59, 0.20]
    # downstream = local x upstream, on every row
    for row in t.rows:
        for op in row.operands:
            assert np.isclose(op.downstream, op.local * row.upstream)


def test_sigmoid_gate_local_gradient():
    t = mg.explain(lambda w0, x0, w1, x1, w2: nn.sigmoid(w0 * x0 + w1 * x1 + w2))(*NEURON_ARGS)
    row = t.rows[0]
    assert row.equation.endswith("logistic d") and "(1 - s) s" in row.pattern
    assert round(float(row.operands[0].local), 2) == 0.20  # (1 - 0.73) * 0.73


def test_max_routes_and_branches_add():
    def branches(x, y):
        a = x * y
        return a + mnp.maximum(a, x)

    t = mg.explain(branches)(2.0, 3.0)
    add, mx, mul = t.rows
    assert mx.pattern.startswith("max routes") and numbers(mx) == [("a", 1.0, 1.0), ("x", 0.0, 0.0)]
    assert "gradients add (2 parts)" in mul.pattern and float(mul.upstream) == 2.0
    x, y = t.inputs
    assert float(x.grad) == 6.0 and "gradients add" in x.pattern
    assert float(y.grad) == 4.0 and y.pattern == ""


def test_array_rows_describe_non_elementwise_locals():
    W, x = np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])
    t = mg.explain(lambda W, x: mnp.sum((W @ x) ** 2), digits=3)(W, x)
    dot = next(r for r in t.rows if "dot_general" in r.equation)
    assert isinstance(dot.operands[0].local, str) and "other operand" in dot.operands[0].local
    assert np.allclose(dot.operands[0].downstream, [[0.088, 0.176], [0.104, 0.208]])
    square = next(r for r in t.rows if "integer_pow" in r.equation)
    assert np.allclose(square.operands[0].local, [0.44, 0.52])  # 2 q, elementwise
    assert np.allclose(t.inputs[1].grad, [-0.112, 0.636])


def test_broadcast_operand_local_is_described():
    t = mg.explain(lambda x, b: mnp.sum(x * b))(np.ones((2, 3)), 2.0)
    mul = next(r for r in t.rows if "mul" in r.equation)
    assert mul.operands[1].local == "summed over the broadcast axes"
    assert float(mul.operands[1].downstream) == 6.0


def test_text_and_html():
    t = mg.explain(add_mul)(-2.0, 5.0, -4.0)
    text = str(t)
    assert "downstream = local x upstream" in text
    assert "b = mul a z  -12.00  1.00" in text
    assert text.splitlines()[-1] == "inputs: x: -4.00   y: -4.00   z: 3.00"
    page = t._repr_html_()
    assert page.startswith("<table>") and "-12.00" in page and 'rowspan="2"' in page


def test_integer_operands_and_no_gradient_rows():
    t = mg.explain(lambda x, i: mnp.sum(x[i] * 2.0))(np.arange(4.0), np.array([0, 2]))
    assert t.inputs[1].grad is None
    assert np.allclose(t.inputs[0].grad, [2.0, 0.0, 2.0, 0.0])
    gather = next(r for r in t.rows if "gather" in r.equation)
    assert gather.operands[1].local is None and gather.operands[1].downstream is None  # the integer index
    index_row = t.rows[-1]
    assert index_row.upstream is None and index_row.pattern == ""


def test_bad_arguments_raise_our_error():
    with pytest.raises(mg.ArgumentError):
        mg.explain(add_mul)("a", 1.0, 2.0)


def test_programs_with_comparisons_and_control_flow_explain():
    from minigrad_fn import lax

    def f(x):
        c, _ = lax.scan(lambda c, x: (c * x, c), 1.0, x)
        return c + lax.cond(c > 0, lambda: 1.0, lambda: 2.0) + mnp.sum(x * (x > 0))
    x = np.array([1.0, 2.0, 3.0])
    text = str(mg.explain(f)(x))
    assert "scan" in text and "cond" in text and "gt" in text
    np.testing.assert_allclose(mg.explain(f)(x).inputs[0].grad, mg.grad(f)(x))
