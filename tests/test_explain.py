"""mg.explain: backprop step by step, with the lecture's numbers and gate patterns."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from minigrad_fn import nn
from programs import programs


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
    assert dot.equation == "b = dot_general W a"  # a: x as a column
    assert [op.local for op in dot.operands] == ["upstream a^T", "W^T upstream"]
    assert np.allclose(dot.operands[0].downstream, [[0.088, 0.176], [0.104, 0.208]])
    square = next(r for r in t.rows if "integer_pow" in r.equation)
    assert np.allclose(square.operands[0].local, [0.44, 0.52])  # 2 q, elementwise
    assert square.operands[0].formula == "2*c" and t.fmt_local(square.operands[0]) == "2*c = f64[2] [0.440, 0.520]"
    total = t.rows[0]
    assert total.operands[0].local.startswith("1 for each summed entry")
    assert np.allclose(t.inputs[1].grad, [-0.112, 0.636])


def test_broadcast_operand_local_is_described():
    t = mg.explain(lambda x, b: mnp.sum(x * b))(np.ones((2, 3)), 2.0)
    mul = next(r for r in t.rows if "mul" in r.equation)
    assert mul.operands[1].local == "summed over the broadcast axes"
    assert t.fmt_local(mul.operands[1]) == "x, summed over the broadcast axes"  # mul switches, then sums
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


# ---- the local gradients' formulas, in the lecture's words -------------------------------------------

def local_cells(table):
    """{(step, operand): the local cell as the table writes it}."""
    return {(r.step, op.name): table.fmt_local(op) for r in table.rows for op in r.operands}


def test_neuron_formulas_name_the_variable_operand():
    t = mg.explain(neuron)(*NEURON_ARGS)
    cells = local_cells(t)
    assert cells[(8, "g")] == "-1/g^2 = -0.53"  # 1/x as div(1, g): the literal 1 put in
    assert cells[(6, "e")] == "exp(e) = 0.37"
    assert cells[(5, "d")] == "-1"  # neg
    assert cells[(7, "f")] == "1"   # add of 1.00 and f
    assert cells[(2, "w1")] == "x1 = -2.00" and cells[(2, "x1")] == "w1 = -3.00"  # mul switches
    assert "J^T" not in str(t) and "J^T" not in t._repr_html_()


def test_add_mul_table_text_shows_formulas():
    text = str(mg.explain(add_mul)(-2.0, 5.0, -4.0))
    assert "b = mul a z  -12.00  1.00      a        z = -4.00  -4.00" in text
    assert "z        a = 3.00   3.00" in text
    assert "x        1          -4.00" in text


@pytest.mark.parametrize("fun, x, formula, local", [
    (mnp.log, 2.0, "1/x", 0.5),
    (mnp.tanh, 0.5, "1 - tanh(x)^2", 1 - np.tanh(0.5) ** 2),
    (nn.sigmoid, 1.0, "(1 - sigmoid(x)) * sigmoid(x)", (1 - 1 / (1 + np.exp(-1.0))) / (1 + np.exp(-1.0))),
    (mnp.sqrt, 4.0, "1/(2*sqrt(x))", 0.25),
    (mnp.sin, 1.0, "cos(x)", np.cos(1.0)),
    (mnp.cos, 1.0, "-sin(x)", -np.sin(1.0)),
    (lambda x: x ** 3, 2.0, "3*x^2", 12.0),
    (lambda x: x ** 2, 2.0, "2*x", 4.0),
    (lambda x: x ** -1, 2.0, "-x^(-2)", -0.25),
    (lambda x: 1.0 / x, 2.0, "-1/x^2", -0.25),
    (lambda x: x / 4.0, 2.0, "1/4", 0.25),
    (lambda x: 3.0 - x, 2.0, "-1", -1.0),
    (lambda x: x * -2.5, 2.0, "(-2.5)", -2.5),
    (mnp.abs, -2.0, "sign(x)", -1.0),
])
def test_unary_formulas(fun, x, formula, local):
    t = mg.explain(fun, digits=4)(x)
    (row,) = t.rows
    (op,) = row.operands
    assert op.formula == formula
    assert np.isclose(float(op.local), local)
    np.testing.assert_allclose(op.downstream, mg.grad(fun)(x))
    shown = t.fmt_local(op)
    assert shown == formula if formula in ("-1",) else shown == f"{formula} = {t.fmt(op.local)}"


def test_sub_shows_its_minus_sign_on_every_shape():
    t = mg.explain(lambda a, b: mnp.sum(a - b))(np.ones((3, 4)), np.ones((3, 4)))
    sub = next(r for r in t.rows if "sub" in r.equation)
    assert [t.fmt_local(op) for op in sub.operands] == ["1", "-1"]
    assert "negated for the subtracted input" in sub.pattern
    t = mg.explain(lambda a, b: mnp.sum(a - b))(np.ones((3, 4)), 2.0)  # b broadcast: still -1, then summed
    sub = next(r for r in t.rows if "sub" in r.equation)
    assert t.fmt_local(sub.operands[1]) == "-1, summed over the broadcast axes"
    assert float(sub.operands[1].downstream) == -12.0


def test_maximum_is_the_max_gate_that_routes():
    t = mg.explain(lambda x, y: mnp.maximum(x, y) * 2.0)(3.0, 1.0)
    mx = t.rows[-1]
    assert mx.pattern.startswith("max routes")
    assert [t.fmt_local(op) for op in mx.operands] == ["1 if x > y else 0 = 1.00", "1 if y > x else 0 = 0.00"]
    assert [float(op.downstream) for op in mx.operands] == [2.0, 0.0]
    relu = mg.explain(lambda x: mnp.sum(mnp.maximum(x, 0.0)))(np.array([1.0, -2.0]))
    op = next(r for r in relu.rows if "max" in r.equation).operands[0]
    assert relu.fmt_local(op) == "1 if x > 0 else 0 = f64[2] [1.00, 0.00]"  # the literal 0 put in


def test_non_elementwise_gates_say_what_they_send_back():
    from minigrad_fn import lax as L
    x = np.arange(6.0).reshape(2, 3)
    t = mg.explain(lambda x: mnp.sum(mnp.max(x.T[::-1], axis=1) * mnp.cumsum(x[0])))(x)
    words = {r.equation.split(" = ")[1].split("[")[0].split()[0]: r.operands[0].local for r in t.rows}
    assert words["transpose"] == "upstream transposed back"
    assert words["rev"] == "upstream reversed back"
    assert words["reduce_max"] == "1 at the largest entry, 0 elsewhere"
    assert words["slice"] == "upstream put back in place, 0 elsewhere"
    assert words["cumsum"].startswith("1 for every later entry")
    called = mg.explain(lambda x: L.reduce_sum(mg.jit(lambda y: y * 2.0)(x), (0,)))(np.ones(2))
    assert called.rows[-1].operands[0].local == "backprop through the body, gate by gate"


def test_step_functions_say_nothing_flows():
    t = mg.explain(lambda x: mnp.floor(x) + x)(1.5)
    floor = t.rows[-1]
    assert floor.operands[0].local.startswith("0: a step function") and floor.operands[0].downstream is None


# ---- quiz mode ---------------------------------------------------------------------------------------

def test_quiz_blanks_the_gradients_and_answers_fills_them():
    quiz = mg.explain(add_mul, quiz=True)(-2.0, 5.0, -4.0)
    text = str(quiz)
    assert "fill in the blanks" in text
    assert "-4.00" in text  # z's value as mul's local gradient stays: the local column is given
    lines = text.splitlines()
    mul_line = next(line for line in lines if "b = mul a z" in line)
    assert "1.00" in mul_line and mul_line.count("____") == 1  # the output's seed 1 is given
    add_line = next(line for line in lines if "a = add x y" in line)
    assert add_line.count("____") == 2  # upstream (a sum of answers) and x's downstream
    assert lines[-1] == "inputs: x: ____   y: ____   z: ____"
    assert str(quiz.answers()) == str(mg.explain(add_mul)(-2.0, 5.0, -4.0))
    page = quiz._repr_html_()
    assert page.count("____") == 8 and "-12.00" in page  # 1 upstream, 4 downstream, 3 inputs
    assert "____" not in quiz.answers()._repr_html_()


def test_quiz_keeps_the_structure_of_a_branch():
    def branches(x, y):
        a = x * y
        return a + mnp.maximum(a, x)
    quiz = mg.explain(branches, quiz=True)(2.0, 3.0)
    assert "a branches: gradients add (2 parts)" in str(quiz)
    assert str(quiz).count("____") == 2 + 6 + 2  # upstreams of max and mul, downstreams, inputs


# ---- every row is what mg.vjp of that gate alone gives ---------------------------------------------------

def _zeros_for_none(upstream, eqn):
    """A row's upstream as the gate's cotangent: a list for a primitive with several results, zeros where
    none flowed."""
    if not eqn.prim.multiple_results:
        return np.asarray(upstream)
    upstream = upstream if len(eqn.outvars) > 1 else [upstream]
    return [np.zeros(v.aval.shape, v.aval.dtype) if u is None else u for v, u in zip(eqn.outvars, upstream)]


def _gradient_of_intermediate(rec, i):
    """mg.vjp of "the rest of the program" at equation i's output: the equations after i evaluated again
    with that value as the input (everything not computed from it held at its recorded value), every output
    seeded with ones, once per time it is returned. Independent of the recording's backward pass."""
    from tracing import Var
    v = rec.eqns[i].outvars[0]

    def rest(x):
        env = dict(rec.env)
        env[v] = x
        for eqn in rec.eqns[i + 1:]:
            out = eqn.prim.bind(*[env[a] if type(a) is Var else a.val for a in eqn.invars], **eqn.params)
            env.update(zip(eqn.outvars, out if eqn.prim.multiple_results else [out]))
        return [env[o] if type(o) is Var else o.val for o in rec.jaxpr.outvars]
    outs, pullback = mg.vjp(rest, rec.env[v])
    (g,) = pullback([np.ones(np.shape(o), np.result_type(o)) for o in outs])
    return np.asarray(g)


def check_rows_against_vjp(fun, args, rtol=1e-9):
    """Every row's downstream gradients are mg.vjp of its gate alone at the recorded operands with the row's
    upstream; the elementwise rows' numbers are local x upstream; the inputs' gradients are mg.vjp of the
    whole function (seeded with ones)."""
    from tracing import Var
    table = mg.explain(fun)(*args)
    rec = table.recording
    for row in table.rows:
        eqn = rec.eqns[row.step - 1]
        if row.upstream is None:
            assert all(op.downstream is None for op in row.operands)
            continue
        wrt = [k for k, v in enumerate(eqn.invars) if type(v) is Var and v.aval.dtype.kind == "f"
               and rec.sent[row.step - 1][k] is not None]
        if not wrt:
            continue

        def gate(*xs, eqn=eqn, wrt=wrt):
            ops = [rec.value_of(v) for v in eqn.invars]
            for k, x in zip(wrt, xs):
                ops[k] = x
            return eqn.prim.bind(*ops, **eqn.params)
        _, pullback = mg.vjp(gate, *[rec.value_of(eqn.invars[k]) for k in wrt])
        expected = dict(zip(wrt, pullback(_zeros_for_none(row.upstream, eqn))))
        for op in row.operands:
            if op.position in expected:
                np.testing.assert_allclose(op.downstream, expected[op.position], rtol=rtol, atol=1e-12,
                                           err_msg=f"{row.equation}: operand {op.name}")
                if not isinstance(op.local, str) and op.local is not None and len(eqn.outvars) == 1:
                    np.testing.assert_allclose(op.downstream, op.local * row.upstream, rtol=rtol, atol=1e-12)
    for row in table.rows:  # the upstream of every row is the library's gradient of that value
        eqn = rec.eqns[row.step - 1]
        if len(eqn.outvars) == 1 and eqn.outvars[0].aval.dtype.kind == "f":
            want = _gradient_of_intermediate(rec, row.step - 1)
            got = np.zeros_like(want) if row.upstream is None else row.upstream
            np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12, err_msg=f"upstream of {row.equation}")
    outs, pullback = mg.vjp(fun, *args)
    leaves = outs if isinstance(outs, (list, tuple)) else [outs]
    seeds = [np.ones(np.shape(o)) for o in leaves]
    grads = pullback(type(outs)(seeds) if isinstance(outs, (list, tuple)) else seeds[0])
    for got, want in zip([i.grad for i in table.inputs], grads):
        np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12)
    return table


def test_rows_of_the_lecture_examples_are_each_gates_vjp():
    check_rows_against_vjp(add_mul, (-2.0, 5.0, -4.0))
    check_rows_against_vjp(neuron, NEURON_ARGS)
    W, x = np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])
    check_rows_against_vjp(lambda W, x: mnp.sum((W @ x) ** 2), (W, x))


def _same_twice(x):
    y = mnp.sin(x)
    return y, y


def _many_uses(x, y):
    a = x * y
    return a * a + a + mnp.exp(a) - a / y


@pytest.mark.parametrize("fun, args", [
    (lambda x: [x, x], (3.0,)),                           # an input returned twice
    (_same_twice, (1.0,)),                                # a value returned twice
    (lambda x, y: (x, x * y), (2.0, 3.0)),                # an input returned as it is, and used
    (lambda x, y: (x * y, y), (np.arange(3.0), 2.0)),     # a broadcast input returned
    (_many_uses, (0.5, 1.5)),                             # a value used five times
    (lambda x: mnp.sum(x * x * x), (np.array([1.0, -2.0]),)),  # mul x x: both operand slots
], ids=["input-twice", "value-twice", "input-returned", "broadcast-returned", "many-uses", "mul-x-x"])
def test_rows_and_inputs_at_branches_and_repeated_outputs(fun, args):
    check_rows_against_vjp(fun, args)


def test_many_uses_rows_and_branch_counts():
    t = check_rows_against_vjp(_many_uses, (0.5, 1.5))
    mul = t.rows[-1]
    assert "a branches: gradients add (5 parts)" in mul.pattern  # a * a sends two


@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(programs(float32=False))
def test_random_programs_rows_are_each_gates_vjp(program):
    inputs = program.make_inputs()
    check_rows_against_vjp(lambda *xs: program.run(mnp, *xs), inputs, rtol=1e-7)


def test_quiz_blanks_an_upstream_that_adds_two_seeds():
    quiz = mg.explain(_same_twice, quiz=True)(1.0)
    (row,) = quiz.rows
    assert float(row.upstream) == 2.0 and not row.upstream_given  # 1 + 1: the student adds them
    assert str(quiz).splitlines()[3].count("____") == 2
