"""Every error the project promises: its class (our own, importable from minigrad_fn) and its message,
which names the operation and the shapes in full, points at the user's line (file:line and the source
text) and says what to do. Errors come at trace time, not from a numpy failure deep inside.

Lines that must be named in a message carry a marker comment `# @name`; `where(name)` finds them.
"""
import re

import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from minigrad_fn import (ArgumentError, ConcretizationError, DTypeError, GradTypeError, LeakedTracerError,
                         MinigradError, ShapeError, TracerError, UnsupportedError)
from minigrad_fn import lax

THIS_FILE = __file__
with open(THIS_FILE) as _f:
    _LINES = _f.read().splitlines()


def where(marker: str) -> tuple:
    """(line number, source text without the marker comment) of the one line marked `# @marker`."""
    hits = [i for i, text in enumerate(_LINES, 1) if text.rstrip().endswith(f"# @{marker}")]
    assert len(hits) == 1, f"marker @{marker} found {len(hits)} times"
    text = _LINES[hits[0] - 1]
    return hits[0], text[:text.rindex("#")].strip()


def check_message(e: BaseException, marker: str, *parts, ops=(), traced: bool = True):
    """The message names `parts` and one of `ops` (the operation), the user's marked line, and a hint.

    `traced`: the error came from tracing (grad or make_jaxpr), so it must not be raised while handling a
    numpy failure: the shape/dtype rules decide before any numpy computation runs.
    """
    assert isinstance(e, MinigradError), f"{type(e).__name__} is not a MinigradError: {e}"
    msg, raw = str(e), e.raw_message
    problems = []
    for p in parts:
        alternatives = p if isinstance(p, tuple) else (p,)
        if not any(a in raw for a in alternatives):
            problems.append(f"{p!r} is missing")
    if ops and not any(re.search(rf"\b{re.escape(op)}\b", raw) for op in ops):
        problems.append(f"names none of the operations {ops}")
    line, code = where(marker)
    if f"{THIS_FILE}:{line}" not in msg:
        problems.append(f"does not point at {THIS_FILE}:{line}")
    if code not in msg:
        problems.append(f"does not show the source line `{code}`")
    if not (e.hint and e.hint in msg):
        problems.append("says nothing about what to do")
    if traced and not (e.__cause__ is None and (e.__context__ is None or e.__suppress_context__)):
        ctx = e.__cause__ or e.__context__
        problems.append(f"was raised while handling {type(ctx).__name__}: {ctx}")
    problem_text = "; ".join(problems)
    assert not problems, f"{type(e).__name__}: {problem_text}\n--- the message:\n{msg}"


A = np.arange(12.0).reshape(3, 4)
B = np.arange(10.0).reshape(5, 2)


# ---------------------------------------------------------------------------------------------
# The classes

@pytest.mark.parametrize("cls, builtin", [
    (ShapeError, ValueError), (DTypeError, TypeError), (TracerError, TypeError),
    (ConcretizationError, TracerError), (LeakedTracerError, TracerError), (ArgumentError, TypeError),
    (GradTypeError, TypeError), (UnsupportedError, TypeError)])
def test_error_classes_are_ours_and_subclass_the_builtin_they_are(cls, builtin):
    assert issubclass(cls, MinigradError) and issubclass(cls, builtin)
    assert getattr(mg, cls.__name__) is cls
    assert issubclass(MinigradError, Exception)


# ---------------------------------------------------------------------------------------------
# grad of integer / bool arguments

def scale(count):
    return count * 2.0


def scale_second(x, n):
    return x * n


def loss(params, x):
    return mnp.sum(params["W"] * x + params["b"])


@pytest.mark.parametrize("arg, dtype", [(3, "int64"), (np.arange(3), "int64"), (True, "bool"),
                                        (np.array([True, False]), "bool"), (np.int32(3), "int32")])
def test_grad_of_an_integer_or_bool_argument(arg, dtype):
    with pytest.raises(GradTypeError) as info:
        mg.grad(scale)(arg)  # @grad-int
    assert isinstance(info.value, TypeError)
    check_message(info.value, "grad-int", "count", dtype, ops=("grad",))
    assert "astype" in info.value.hint or "cast" in info.value.hint.lower()


def test_grad_of_an_integer_argument_chosen_by_argnums():
    with pytest.raises(GradTypeError) as info:
        mg.value_and_grad(scale_second, argnums=(0, 1))(1.0, 2)  # @grad-int-argnums
    check_message(info.value, "grad-int-argnums", ("'n'", "argument n "), "int64", "argnums")


def test_grad_of_an_integer_dict_leaf_names_the_leaf():
    params = {"W": np.arange(3), "b": np.zeros(3)}
    with pytest.raises(GradTypeError) as info:
        mg.grad(loss)(params, np.ones(3))  # @grad-int-leaf
    check_message(info.value, "grad-int-leaf", "params['W']", "int64")


def test_integer_data_outside_argnums_is_fine():
    assert float(mg.grad(scale_second)(1.5, 4)) == 4.0


# ---------------------------------------------------------------------------------------------
# grad of a non-scalar output

@pytest.mark.parametrize("x", [np.ones((3, 4)), np.ones(3), np.ones((2, 1, 5))])
def test_grad_of_a_non_scalar_output(x):
    with pytest.raises(GradTypeError) as info:
        mg.grad(lambda x: x * 2.0)(x)  # @grad-nonscalar
    check_message(info.value, "grad-nonscalar", str(x.shape), ops=("grad",))
    assert "sum" in info.value.hint and "vjp" in info.value.hint


def test_grad_of_an_integer_or_tuple_output():
    with pytest.raises(GradTypeError) as info:
        mg.grad(lambda x: mnp.argmax(x))(np.ones(3))  # @grad-int-out
    check_message(info.value, "grad-int-out", "int64")
    with pytest.raises(GradTypeError) as info:
        mg.grad(lambda x: (mnp.sum(x), mnp.sum(x)))(np.ones(3))  # @grad-tuple-out
    check_message(info.value, "grad-tuple-out", "tuple")


# ---------------------------------------------------------------------------------------------
# Shape mismatches: eagerly on numpy inputs, under grad, grad of grad and make_jaxpr

def op_add(a, b):
    return mnp.add(a, b)  # @op-add


def op_add_operator(a, b):
    return a + b  # @op-add-operator


def op_np_add(a, b):
    return np.add(a, b)  # @op-np-add


def op_multiply(a, b):
    return mnp.multiply(a, b)  # @op-multiply


def op_multiply_operator(a, b):
    return a * b  # @op-multiply-operator


def op_maximum(a, b):
    return mnp.maximum(a, b)  # @op-maximum


def op_where(a, b):
    return mnp.where(np.ones((3, 4), bool), a, b)  # @op-where


def op_matmul(a, b):
    return mnp.matmul(a, b)  # @op-matmul


def op_matmul_operator(a, b):
    return a @ b  # @op-matmul-operator


def op_dot(a, b):
    return mnp.dot(a, b)  # @op-dot


def op_concatenate(a, b):
    return mnp.concatenate([a, b], axis=0)  # @op-concatenate


def op_reshape(a, b):
    return mnp.reshape(a, b.shape)  # @op-reshape


def op_broadcast_to(a, b):
    return mnp.broadcast_to(a, b.shape)  # @op-broadcast_to


def op_einsum(a, b):
    return mnp.einsum("ij,jk->ik", a, b)  # @op-einsum


def op_take(a, b):
    return mnp.take(a, np.array([0, 17]), axis=0)  # @op-take


def op_index_int(a, b):
    return a[17]  # @op-index-int


def op_index_second_axis(a, b):
    return a[:, 17]  # @op-index-second-axis


def op_index_array(a, b):
    return a[np.array([0, 17])]  # @op-index-array


BOTH = ("(3, 4)", "(5, 2)")
INDEX = ("(3, 4)", "17")
#              function               names of the operation         in the message  eager too
SHAPE_OPS = {
    "add": (op_add, ("add",), BOTH, True),
    "add-operator": (op_add_operator, ("add",), BOTH, False),
    "np-add": (op_np_add, ("add",), BOTH, False),
    "multiply": (op_multiply, ("multiply", "mul"), BOTH, True),
    "multiply-operator": (op_multiply_operator, ("multiply", "mul"), BOTH, False),
    "maximum": (op_maximum, ("maximum", "max"), BOTH, True),
    "where": (op_where, ("where", "select"), BOTH, True),
    "matmul": (op_matmul, ("matmul",), BOTH, True),
    "matmul-operator": (op_matmul_operator, ("matmul",), BOTH, False),
    "dot": (op_dot, ("dot",), BOTH, True),
    "concatenate": (op_concatenate, ("concatenate",), BOTH, True),
    "reshape": (op_reshape, ("reshape",), BOTH, True),
    "broadcast_to": (op_broadcast_to, ("broadcast_to",), BOTH, True),
    "einsum": (op_einsum, ("einsum",), BOTH, True),
    "take": (op_take, ("take", "index", "indexing"), INDEX, True),
    "index-int": (op_index_int, ("index", "indexing"), INDEX, False),
    "index-second-axis": (op_index_second_axis, ("index", "indexing"), INDEX, False),
    "index-array": (op_index_array, ("index", "indexing"), INDEX, False),
}


def run(mode, op):
    if mode == "eager":
        return op(A, B)
    if mode == "grad":
        return mg.grad(lambda a, b: mnp.sum(op(a, b)), argnums=(0, 1))(A, B)
    if mode == "grad-of-grad":
        inner = mg.grad(lambda a: mnp.sum(op(a, B)))
        return mg.grad(lambda a: mnp.sum(inner(a)))(A)
    if mode == "make_jaxpr":
        return mg.make_jaxpr(op)(A, B)
    if mode == "vjp":
        return mg.vjp(op, A, B)
    raise AssertionError(mode)


SHAPE_CASES = [(name, mode) for name, (_, _, _, eager) in SHAPE_OPS.items()
               for mode in (("eager",) if eager else ()) + ("grad", "grad-of-grad", "make_jaxpr", "vjp")]


@pytest.mark.parametrize("name, mode", SHAPE_CASES)
def test_shape_mismatch_names_operation_shapes_and_line(name, mode):
    op, ops, parts, _ = SHAPE_OPS[name]
    with pytest.raises(ShapeError) as info:
        run(mode, op)
    assert isinstance(info.value, ValueError)
    if name.startswith(("take", "index")):
        assert isinstance(info.value, IndexError), "an index out of range is also an IndexError, as in numpy"
    check_message(info.value, f"op-{name}", *parts, ops=ops, traced=mode != "eager")


def lax_mixed_dtypes(x):
    return lax.reduce_sum(lax.add(x, np.ones(3)), (0,))  # @lax-dtypes


@pytest.mark.parametrize("mode", ["grad", "make_jaxpr"])
def test_dtype_mismatch_in_lax_names_both_dtypes(mode):
    # lax-style wrappers take equal dtypes (no numpy promotion): float32 + float64 is an error when traced
    x = np.ones(3, np.float32)
    with pytest.raises(DTypeError) as info:
        mg.grad(lax_mixed_dtypes)(x) if mode == "grad" else mg.make_jaxpr(lax_mixed_dtypes)(x)
    assert isinstance(info.value, TypeError)
    check_message(info.value, "lax-dtypes", "float32", "float64", "(3,)", ops=("add",))


# ---------------------------------------------------------------------------------------------
# numpy functions and arguments that are not supported on traced values

def uses_svd(x):
    return mnp.sum(np.linalg.svd(x)[1])  # @unsupported-svd


def uses_sort(x):
    return mnp.sum(np.sort(x))  # @unsupported-sort


def uses_cumprod(x):
    return mnp.sum(np.cumprod(x))  # @unsupported-cumprod


def uses_add_reduce(x):
    return mnp.sum(np.add.reduce(x))  # @unsupported-add-reduce


def uses_multiply_outer(x):
    return mnp.sum(np.multiply.outer(x, x))  # @unsupported-multiply-outer


def uses_ufunc_out(x):
    return mnp.sum(np.exp(x, out=np.empty((3, 4))))  # @unsupported-ufunc-out


def uses_mnp_out(x):
    return mnp.sum(mnp.exp(x, out=np.empty((3, 4))))  # @unsupported-mnp-out


def uses_sum_out(x):
    return np.sum(x, out=np.empty(()))  # @unsupported-sum-out


UNSUPPORTED = {
    "svd": (uses_svd, ("linalg.svd",)),
    "sort": (uses_sort, ("sort",)),
    "cumprod": (uses_cumprod, ("cumprod",)),
    "add-reduce": (uses_add_reduce, ("add.reduce",)),
    "multiply-outer": (uses_multiply_outer, ("multiply.outer",)),
    "ufunc-out": (uses_ufunc_out, ("exp", "out=")),
    "mnp-out": (uses_mnp_out, ("exp", "out=")),
    "sum-out": (uses_sum_out, ("sum", "out=")),
}
NOT_ABOUT_SHAPES = {"ufunc-out", "mnp-out", "sum-out"}  # out= is refused whatever the shapes


@pytest.mark.parametrize("mode", ["grad", "make_jaxpr"])
@pytest.mark.parametrize("name", list(UNSUPPORTED))
def test_unsupported_numpy_function_on_a_traced_value(name, mode):
    fn, parts = UNSUPPORTED[name]
    with pytest.raises(UnsupportedError) as info:
        mg.grad(fn)(A) if mode == "grad" else mg.make_jaxpr(fn)(A)
    assert isinstance(info.value, TypeError)
    shape = () if name in NOT_ABOUT_SHAPES else (("(3, 4)", "[3,4]"),)
    check_message(info.value, f"unsupported-{name}", *parts, *shape)


def converts_to_numpy(x):
    return np.asarray(x) * 2.0  # @to-numpy


def test_converting_a_tracer_to_a_numpy_array():
    # under make_jaxpr: an abstract value; under grad: a value whose derivative the conversion would drop
    for trace, error in ((mg.make_jaxpr(converts_to_numpy), TracerError),
                         (mg.grad(lambda x: mnp.sum(converts_to_numpy(x))), mg.GradientLostError)):
        with pytest.raises(error) as info:
            trace(A)
        check_message(info.value, "to-numpy", ("(3, 4)", "[3,4]"))


# ---------------------------------------------------------------------------------------------
# Tracers that leak out of their transformation

def leak_from(transform):
    box = []

    def f(x):
        box.append(x)  # the mistake: keeping a tracer after the trace ends
        return mnp.sum(x * 2.0)
    transform(f)(A)
    return box[0]


TRANSFORMS = {"grad": mg.grad, "make_jaxpr": mg.make_jaxpr}


@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_leaked_tracer_used_later_in_an_operation(transform):
    leaked = leak_from(TRANSFORMS[transform])
    with pytest.raises(LeakedTracerError) as info:
        leaked * 3.0  # @leak-mul
    assert isinstance(info.value, TracerError) and isinstance(info.value, TypeError)
    check_message(info.value, "leak-mul", ("(3, 4)", "[3,4]"), ops=("mul", "multiply"))

    with pytest.raises(LeakedTracerError) as info:
        np.exp(leaked)  # @leak-np-exp
    check_message(info.value, "leak-np-exp", ("(3, 4)", "[3,4]"), ops=("exp",))


@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_leaked_tracer_used_inside_a_later_transformation(transform):
    leaked = leak_from(TRANSFORMS[transform])
    with pytest.raises(LeakedTracerError) as info:
        mg.grad(lambda y: mnp.sum(y * leaked))(A)  # @leak-in-grad
    check_message(info.value, "leak-in-grad", ("(3, 4)", "[3,4]"), ops=("mul", "multiply"))
    with pytest.raises(LeakedTracerError) as info:
        mg.make_jaxpr(lambda y: y + leaked)(A)  # @leak-in-jaxpr
    check_message(info.value, "leak-in-jaxpr", ("(3, 4)", "[3,4]"), ops=("add",))


@pytest.mark.parametrize("transform", list(TRANSFORMS))
def test_leaked_tracer_asked_for_its_value(transform):
    leaked = leak_from(TRANSFORMS[transform])
    with pytest.raises(LeakedTracerError) as info:
        float(leaked[0, 0])  # @leak-float
    check_message(info.value, "leak-float")
    with pytest.raises(LeakedTracerError) as info:
        leaked.item()  # @leak-item
    check_message(info.value, "leak-item", ("item",))


# ---------------------------------------------------------------------------------------------
# Python control flow on abstract tracers (make_jaxpr) versus on values (grad)

def branchy(x):
    if x > 0:  # @branch-if
        return x * x
    return -3.0 * x


def uses_float(x):
    return x * float(x)  # @branch-float


def uses_item(x):
    return x * x.item()  # @branch-item


def uses_int(x):
    return x * int(x)  # @branch-int


def uses_while(x):
    while x < 10.0:  # @branch-while
        x = x * 2.0
    return x


def uses_and(x):
    return (x > 0 and x < 5) * x  # @branch-and


CONTROL_FLOW = {"if": (branchy, "bool"), "float": (uses_float, "float"), "item": (uses_item, "item"),
                "int": (uses_int, "int"), "while": (uses_while, "bool"), "and": (uses_and, "bool")}


@pytest.mark.parametrize("name", list(CONTROL_FLOW))
def test_branching_on_an_abstract_tracer_in_make_jaxpr(name):
    fn, what = CONTROL_FLOW[name]
    with pytest.raises(ConcretizationError) as info:
        mg.make_jaxpr(fn)(1.5)
    assert isinstance(info.value, TracerError) and isinstance(info.value, TypeError)
    check_message(info.value, f"branch-{name}", what, ("f64[]", "()", "bool[]"))
    assert "static_argnums" in info.value.hint and "where" in info.value.hint


@pytest.mark.parametrize("x, expected", [(1.5, 3.0), (-2.0, -3.0)])
def test_the_same_branching_works_under_grad(x, expected):
    assert float(mg.grad(branchy)(x)) == expected


@pytest.mark.parametrize("x", [1.5, 3.0])
def test_float_and_item_under_grad_refuse_to_drop_the_gradient(x):
    # float(x) / x.item() would make a constant of a value being differentiated: JAX raises, and so do we
    for name in ("float", "item", "int"):
        with pytest.raises(mg.GradientLostError) as info:
            mg.grad(CONTROL_FLOW[name][0])(x)
        check_message(info.value, f"branch-{name}", "derivative would be lost", "f64[]")
    assert float(mg.value_and_grad(uses_while)(x)[0]) == x * 2.0 ** int(np.ceil(np.log2(10.0 / x)))


def test_branching_on_a_traced_array_in_make_jaxpr_names_its_shape():
    def f(v):
        if mnp.sum(v) > 0:  # @branch-array
            return v
        return -v
    with pytest.raises(ConcretizationError) as info:
        mg.make_jaxpr(f)(np.ones(3))
    check_message(info.value, "branch-array", "bool")
    np.testing.assert_array_equal(mg.grad(lambda v: mnp.sum(f(v)))(np.ones(3)), np.ones(3))


# ---------------------------------------------------------------------------------------------
# Arguments that are not arrays or scalars

def summed(x, label):
    return mnp.sum(x)


def takes_params(params):
    return mnp.sum(params["W"])


BAD_VALUES = {"str": "abc", "object": object(), "str-in-list": [np.ones(2), {"k": "v"}]}


@pytest.mark.parametrize("bad", list(BAD_VALUES))
def test_bad_argument_to_grad(bad):
    value = BAD_VALUES[bad]
    with pytest.raises(ArgumentError) as info:
        mg.grad(summed, argnums=(0, 1))(A, value)  # @bad-arg-grad
    assert isinstance(info.value, TypeError)
    check_message(info.value, "bad-arg-grad", "label", ("str", "object", "dict"))


@pytest.mark.parametrize("bad", list(BAD_VALUES))
def test_bad_argument_to_vjp(bad):
    with pytest.raises(ArgumentError) as info:
        mg.vjp(summed, A, BAD_VALUES[bad])  # @bad-arg-vjp
    check_message(info.value, "bad-arg-vjp", "label", ("str", "object", "dict"))


@pytest.mark.parametrize("bad", list(BAD_VALUES))
def test_bad_argument_to_make_jaxpr(bad):
    with pytest.raises(ArgumentError) as info:
        mg.make_jaxpr(summed)(A, BAD_VALUES[bad])  # @bad-arg-jaxpr
    check_message(info.value, "bad-arg-jaxpr", "label", ("str", "object", "dict"))


def test_bad_leaf_in_a_dict_argument_is_named():
    with pytest.raises(ArgumentError) as info:
        mg.grad(takes_params)({"W": A, "b": "zeros"})  # @bad-arg-leaf
    check_message(info.value, "bad-arg-leaf", "params['b']", "str")


def adds_a_string(x):
    return mnp.sum(x + "abc")  # @bad-operand


@pytest.mark.parametrize("mode", ["grad", "make_jaxpr"])
def test_a_string_operand_inside_the_traced_function(mode):
    with pytest.raises(ArgumentError) as info:
        mg.grad(adds_a_string)(A) if mode == "grad" else mg.make_jaxpr(adds_a_string)(A)
    check_message(info.value, "bad-operand", "str", ops=("add",))
