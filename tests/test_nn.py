"""minigrad_fn.nn against jax.nn: values and gradients (float64, with finite differences), stability at
logits of +-1000, the subgradient conventions at 0, dtypes, and the lecture's maxout and losses."""
import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import jax
import jax.numpy as jnp

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from helpers import check_grad


def nn(xp):
    """The nn module that goes with an array module: ours for minigrad_fn.numpy, jax.nn for jax.numpy."""
    return mg.nn if xp is mnp else jax.nn


def rand(seed, shape, scale=3.0):
    """Continuous random values: no ties and no exact zeros, so finite differences are meaningful."""
    return np.random.default_rng(seed).normal(size=shape) * scale


# ---------------------------------------------------------------------------------------------
# References for what jax.nn does not have: the lecture's maxout and losses, written in jax.numpy

def maxout_ref(x, w, b):
    return jnp.max(jnp.einsum("...d,kdh->...kh", x, w) + b, axis=-2)


def softmax_cross_entropy_ref(logits, labels):
    n = logits.shape[0]
    return -jnp.mean(jax.nn.log_softmax(logits, axis=-1)[jnp.arange(n), labels])


def multiclass_svm_loss_ref(scores, labels, margin=1.0):
    n, c = scores.shape
    correct = scores[jnp.arange(n), labels]
    margins = jnp.maximum(0.0, scores - correct[:, None] + margin)
    not_label = jnp.arange(c)[None, :] != labels[:, None]
    return jnp.sum(jnp.where(not_label, margins, 0.0)) / n


def loss_fns(xp):
    if xp is mnp:
        return mg.nn.maxout, mg.nn.softmax_cross_entropy, mg.nn.multiclass_svm_loss
    return maxout_ref, softmax_cross_entropy_ref, multiclass_svm_loss_ref


# ---------------------------------------------------------------------------------------------
# Strategies

shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=3)
seeds = st.integers(0, 2**32 - 1)


@st.composite
def shape_and_axis(draw):
    """A shape and one of its axes, possibly negative."""
    shape = draw(shapes)
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return shape, axis


@st.composite
def shape_and_axes(draw):
    """A shape and an axis argument as reductions take it: None, an int, or a tuple of distinct axes."""
    shape = draw(shapes)
    nd = len(shape)
    axis = draw(st.one_of(st.none(), st.integers(-nd, nd - 1),
                          st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True).map(tuple)))
    return shape, axis


# ---------------------------------------------------------------------------------------------
# Elementwise activations

ACTIVATIONS = {
    "sigmoid": lambda xp, x: nn(xp).sigmoid(x),
    "relu": lambda xp, x: nn(xp).relu(x),
    "leaky_relu": lambda xp, x: nn(xp).leaky_relu(x),
    "leaky_relu_0.1": lambda xp, x: nn(xp).leaky_relu(x, negative_slope=0.1),
    "elu": lambda xp, x: nn(xp).elu(x),
    "elu_alpha_2": lambda xp, x: nn(xp).elu(x, alpha=2.0),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@given(shape=shapes, seed=seeds)
def test_activation_values_and_gradients_match_jax(name, shape, seed):
    act = ACTIVATIONS[name]
    x, w = rand(seed, shape), rand(seed + 1, shape, 1.0)
    check_grad(lambda xp, x: xp.sum(act(xp, x) * w), x)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_value_and_derivative_at_zero_follow_jax(name):
    act = ACTIVATIONS[name]
    x = np.array([0.0, -0.0, 1e-300, -1e-300])
    ours = mg.grad(lambda x: mnp.sum(act(mnp, x)))(x)
    theirs = jax.grad(lambda x: jnp.sum(act(jnp, x)))(jnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(act(mnp, x)), np.asarray(act(jnp, jnp.asarray(x))))
    np.testing.assert_array_equal(ours, np.asarray(theirs))


def test_subgradient_conventions_at_zero():
    # relu'(0) = 0; leaky_relu'(0) = 1 (jax: where(x >= 0, x, slope x)); elu'(0) = alpha (jax: expm1 branch)
    assert float(mg.grad(mg.nn.relu)(0.0)) == 0.0
    assert float(mg.grad(mg.nn.leaky_relu)(0.0)) == 1.0
    assert float(mg.grad(lambda x: mg.nn.elu(x, alpha=2.0))(0.0)) == 2.0
    assert float(mg.grad(mg.nn.sigmoid)(0.0)) == 0.25
    assert float(mg.nn.relu(0.0)) == float(mg.nn.leaky_relu(0.0)) == float(mg.nn.elu(0.0)) == 0.0


def test_leaky_relu_is_the_lectures_max_of_tenth_x_and_x():
    x = np.array([-3.0, -0.5, 0.25, 2.0])
    np.testing.assert_allclose(mg.nn.leaky_relu(x, negative_slope=0.1), np.maximum(0.1 * x, x), rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------
# softmax, log_softmax, logsumexp

@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@given(sa=shape_and_axis(), seed=seeds)
def test_softmax_family_matches_jax(name, sa, seed):
    shape, axis = sa
    x, w = rand(seed, shape), rand(seed + 1, shape, 1.0)
    check_grad(lambda xp, x: xp.sum(getattr(nn(xp), name)(x, axis=axis) * w), x)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_tuple_axis_and_default_axis(name):
    x, w = rand(0, (2, 3, 4)), rand(1, (2, 3, 4), 1.0)
    check_grad(lambda xp, x: xp.sum(getattr(nn(xp), name)(x, axis=(0, 2)) * w), x)
    check_grad(lambda xp, x: xp.sum(getattr(nn(xp), name)(x) * w), x)
    check_grad(lambda xp, x: xp.sum(getattr(nn(xp), name)(x, axis=None) * w), x)


def test_softmax_rows_sum_to_one():
    s = mg.nn.softmax(rand(3, (5, 7)), axis=1)
    np.testing.assert_allclose(s.sum(axis=1), np.ones(5), rtol=1e-14)


@given(sa=shape_and_axes(), keepdims=st.booleans(), seed=seeds)
def test_logsumexp_matches_jax(sa, keepdims, seed):
    shape, axis = sa
    a, w = rand(seed, shape), rand(seed + 1, shape, 1.0)
    out_shape = np.shape(np.sum(a, axis=axis, keepdims=keepdims))
    v = rand(seed + 2, out_shape, 1.0)
    check_grad(lambda xp, a: xp.sum(nn(xp).logsumexp(a, axis=axis, keepdims=keepdims) * v), a)


@given(sa=shape_and_axes(), keepdims=st.booleans(), seed=seeds)
def test_logsumexp_with_b_matches_jax_in_both_arguments(sa, keepdims, seed):
    shape, axis = sa
    a = rand(seed, shape)
    b = np.abs(rand(seed + 1, shape, 1.0)) + 0.1  # positive weights: the logarithm is defined
    out_shape = np.shape(np.sum(a, axis=axis, keepdims=keepdims))
    v = rand(seed + 2, out_shape, 1.0)
    check_grad(lambda xp, a, b: xp.sum(nn(xp).logsumexp(a, axis=axis, b=b, keepdims=keepdims) * v), a, b,
               argnums=(0, 1))


def test_logsumexp_with_broadcast_b():
    a, b = rand(0, (3, 4)), np.array([0.5, 1.0, 2.0, 0.25])
    check_grad(lambda xp, a, b: xp.sum(nn(xp).logsumexp(a, axis=1, b=b)), a, b, argnums=(0, 1))


def test_log_softmax_is_x_minus_logsumexp():
    x = rand(5, (4, 6))
    np.testing.assert_allclose(mg.nn.log_softmax(x), x - mg.nn.logsumexp(x, axis=-1, keepdims=True), rtol=1e-13)


# ---------------------------------------------------------------------------------------------
# Stability: logits of +-1000, mixed, all equal; values and gradients finite and equal to JAX's

EXTREME = {
    "plus_1000": np.full((2, 3), 1000.0),
    "minus_1000": np.full((2, 3), -1000.0),
    "mixed": np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]]),
    "all_equal": np.full((2, 3), 7.0),
    "huge_gap": np.array([[1000.0, 1.0, -1.0], [-1000.0, -999.0, -1000.0]]),
}

STABLE = {
    "softmax": lambda xp, x: nn(xp).softmax(x, axis=-1),
    "softmax_axis0": lambda xp, x: nn(xp).softmax(x, axis=0),
    "log_softmax": lambda xp, x: nn(xp).log_softmax(x, axis=-1),
    "logsumexp": lambda xp, x: nn(xp).logsumexp(x, axis=-1),
    "logsumexp_all": lambda xp, x: nn(xp).logsumexp(x),
    "logsumexp_b": lambda xp, x: nn(xp).logsumexp(x, axis=-1, b=np.array([0.5, 1.0, 2.0])),
    "sigmoid": lambda xp, x: nn(xp).sigmoid(x),
    "elu": lambda xp, x: nn(xp).elu(x),
    "relu": lambda xp, x: nn(xp).relu(x),
    "leaky_relu": lambda xp, x: nn(xp).leaky_relu(x),
    "cross_entropy": lambda xp, x: loss_fns(xp)[1](x, np.array([1, 2])),
    "svm": lambda xp, x: loss_fns(xp)[2](x, np.array([1, 2])),
}


@pytest.mark.parametrize("case", list(EXTREME))
@pytest.mark.parametrize("name", list(STABLE))
def test_no_inf_or_nan_at_extreme_logits_and_gradients_equal_jax(name, case):
    f, x = STABLE[name], EXTREME[case]
    w = np.linspace(-1.0, 1.5, x.size).reshape(x.shape)
    value = np.asarray(f(mnp, x))
    assert np.all(np.isfinite(value)), f"{name} gives {value} for {case} logits"
    expected = np.asarray(f(jnp, jnp.asarray(x)))
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-300)

    def scalar(xp, x):
        y = f(xp, x)
        return xp.sum(y * w) if y.shape == x.shape else xp.sum(y * xp.arange(1, y.size + 1).reshape(y.shape))
    ours = mg.grad(lambda x: scalar(mnp, x))(x)
    theirs = np.asarray(jax.grad(lambda x: scalar(jnp, x))(jnp.asarray(x)))
    assert np.all(np.isfinite(ours)), f"the gradient of {name} is {ours} for {case} logits"
    assert np.all(np.isfinite(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-300)


def test_extreme_values_are_right_not_just_finite():
    x = np.array([[1000.0, -1000.0]])
    np.testing.assert_allclose(mg.nn.softmax(x), [[1.0, 0.0]])
    np.testing.assert_allclose(mg.nn.log_softmax(x), [[0.0, -2000.0]])
    np.testing.assert_allclose(mg.nn.logsumexp(x), 1000.0)
    np.testing.assert_allclose(mg.nn.logsumexp(np.full(4, -1000.0)), -1000.0 + np.log(4.0), rtol=1e-15)
    np.testing.assert_allclose(mg.nn.sigmoid(np.array([1000.0, -1000.0])), [1.0, 0.0])
    np.testing.assert_allclose(mg.nn.elu(np.array([1000.0, -1000.0])), [1000.0, -1.0])
    np.testing.assert_allclose(mg.nn.softmax_cross_entropy(x, np.array([1])), 2000.0)
    np.testing.assert_allclose(mg.grad(mg.nn.softmax_cross_entropy)(x, np.array([1])), [[1.0, -1.0]])


# ---------------------------------------------------------------------------------------------
# one_hot

@given(n=st.integers(0, 6), num_classes=st.integers(1, 5), axis=st.sampled_from([-1, 0]),
       dtype=st.sampled_from([None, np.float32, np.float64, np.int32, np.bool_]), seed=seeds)
def test_one_hot_matches_jax(n, num_classes, axis, dtype, seed):
    # labels include -1 and num_classes, which jax maps to all-zero rows
    labels = np.random.default_rng(seed).integers(-1, num_classes + 1, size=n)
    kw = {} if dtype is None else {"dtype": dtype}
    ours = mg.nn.one_hot(labels, num_classes, axis=axis, **kw)
    theirs = jax.nn.one_hot(jnp.asarray(labels), num_classes, axis=axis, **kw)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


def test_one_hot_of_a_matrix_on_each_axis():
    labels = np.array([[0, 2], [1, 1], [2, 0]])
    for axis in (0, 1, 2, -1, -2):
        np.testing.assert_array_equal(mg.nn.one_hot(labels, 3, axis=axis),
                                      np.asarray(jax.nn.one_hot(jnp.asarray(labels), 3, axis=axis)))


# ---------------------------------------------------------------------------------------------
# The lecture's maxout and losses against the jax.numpy references

@given(batch=hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3), d=st.integers(1, 3),
       h=st.integers(1, 3), k=st.integers(1, 3), seed=seeds)
def test_maxout_matches_reference(batch, d, h, k, seed):
    # x is (..., D): a single vector (batch ()), a batch of rows, or a batch of batches
    x, w, b = rand(seed, batch + (d,)), rand(seed + 1, (k, d, h)), rand(seed + 2, (k, h))
    v = rand(seed + 3, batch + (h,), 1.0)
    check_grad(lambda xp, x, w, b: xp.sum(loss_fns(xp)[0](x, w, b) * v), x, w, b, argnums=(0, 1, 2))


def test_maxout_is_the_lectures_max_of_two_affine_pieces():
    x = rand(0, (3, 2))
    w, b = rand(1, (2, 2, 5)), rand(2, (2, 5))
    np.testing.assert_allclose(mg.nn.maxout(x, w, b), np.maximum(x @ w[0] + b[0], x @ w[1] + b[1]), rtol=1e-15)
    # one vector: max(w1^T x + b1, w2^T x + b2)
    np.testing.assert_allclose(mg.nn.maxout(x[0], w, b), np.maximum(x[0] @ w[0] + b[0], x[0] @ w[1] + b[1]),
                               rtol=1e-15)


@pytest.mark.parametrize("x_shape, w_shape, b_shape", [
    ((3, 4), (2, 5, 6), (2, 6)),   # D differs
    ((3, 4), (2, 4, 6), (6,)),     # b without the k axis
    ((3, 4), (2, 4, 6), (3, 6)),   # k differs
    ((3, 4), (4, 6), (2, 6)),      # w without the k axis
])
def test_maxout_shape_errors_name_all_three_shapes(x_shape, w_shape, b_shape):
    with pytest.raises(mg.ShapeError) as info:
        mg.nn.maxout(np.ones(x_shape), np.ones(w_shape), np.ones(b_shape))
    for shape in (x_shape, w_shape, b_shape):
        assert str(shape) in info.value.raw_message
    assert "maxout" in info.value.raw_message and "(k, D, H)" in info.value.hint


@pytest.mark.parametrize("loss", [mg.nn.softmax_cross_entropy, mg.nn.multiclass_svm_loss])
def test_loss_label_errors(loss):
    scores = np.ones((3, 4))
    with pytest.raises(mg.ShapeError) as info:
        loss(scores, np.array([0, 1]))
    assert "(3, 4)" in info.value.raw_message and "(2,)" in info.value.raw_message
    with pytest.raises(mg.ShapeError):
        loss(np.ones(4), np.array([0]))
    with pytest.raises(mg.DTypeError) as info:
        loss(scores, np.array([0.0, 1.0, 2.0]))
    assert "float64" in info.value.raw_message and info.value.hint
    with pytest.raises(mg.ShapeError):
        mg.grad(loss)(scores, np.array([[0, 1, 2]]))


def test_logsumexp_return_sign_is_refused_clearly():
    with pytest.raises(mg.UnsupportedError, match="return_sign"):
        mg.nn.logsumexp(np.ones(3), b=-np.ones(3), return_sign=True)


@given(n=st.integers(1, 5), c=st.integers(1, 5), seed=seeds)
def test_softmax_cross_entropy_matches_reference(n, c, seed):
    logits = rand(seed, (n, c))
    labels = np.random.default_rng(seed).integers(0, c, size=n)
    check_grad(lambda xp, s: loss_fns(xp)[1](s, labels), logits)


@given(n=st.integers(1, 5), c=st.integers(2, 5), margin=st.sampled_from([1.0, 0.5, 2.0]), seed=seeds)
def test_multiclass_svm_loss_matches_reference(n, c, margin, seed):
    scores = rand(seed, (n, c))
    labels = np.random.default_rng(seed).integers(0, c, size=n)
    check_grad(lambda xp, s: loss_fns(xp)[2](s, labels, margin=margin), scores)


def test_multiclass_svm_loss_on_the_lecture_example():
    # cat / car / frog scores of three images, one per column; correct classes 0, 1, 2
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]])
    labels = np.array([0, 1, 2])
    # losses 2.9, 0 and 12.9
    np.testing.assert_allclose(mg.nn.multiclass_svm_loss(scores, labels), (2.9 + 0.0 + 12.9) / 3, rtol=1e-14)


def _softmax_np(s):
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_loss_gradients_match_hand_derived_formulas():
    scores = np.array([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1], [0.1, -0.4, 0.3]])
    labels = np.array([0, 1, 2, 2])
    n = len(labels)
    rows = np.arange(n)

    # cross-entropy: dL/ds = (softmax(s) - onehot(y)) / N
    onehot = np.zeros_like(scores)
    onehot[rows, labels] = 1.0
    expected_ce = -np.mean(np.log(_softmax_np(scores)[rows, labels]))
    value, g = mg.value_and_grad(mg.nn.softmax_cross_entropy)(scores, labels)
    np.testing.assert_allclose(value, expected_ce, rtol=1e-14)
    np.testing.assert_allclose(g, (_softmax_np(scores) - onehot) / n, rtol=1e-13, atol=1e-16)

    # multiclass SVM: each positive margin j != y_i gives +1 to s_j and -1 to s_{y_i}, over N
    margins = scores - scores[rows, labels][:, None] + 1.0
    margins[rows, labels] = 0.0
    positive = (margins > 0).astype(np.float64)
    expected_g = positive.copy()
    expected_g[rows, labels] = -positive.sum(axis=1)
    value, g = mg.value_and_grad(mg.nn.multiclass_svm_loss)(scores, labels)
    np.testing.assert_allclose(value, np.maximum(margins, 0).sum() / n, rtol=1e-14)
    np.testing.assert_allclose(g, expected_g / n, rtol=1e-14)


def test_losses_take_labels_as_lists_and_int32():
    scores = rand(0, (3, 4))
    for labels in ([0, 3, 1], np.array([0, 3, 1], dtype=np.int32)):
        np.testing.assert_allclose(mg.nn.softmax_cross_entropy(scores, labels),
                                   softmax_cross_entropy_ref(jnp.asarray(scores), jnp.asarray(labels)), rtol=1e-14)
        np.testing.assert_allclose(mg.nn.multiclass_svm_loss(scores, labels),
                                   multiclass_svm_loss_ref(jnp.asarray(scores), jnp.asarray(labels)), rtol=1e-14)


# ---------------------------------------------------------------------------------------------
# Dtypes, tracing, higher order

F32_CASES = {
    "sigmoid": lambda x: mg.nn.sigmoid(x),
    "relu": lambda x: mg.nn.relu(x),
    "leaky_relu": lambda x: mg.nn.leaky_relu(x, 0.1),
    "elu": lambda x: mg.nn.elu(x, alpha=2.0),
    "softmax": lambda x: mg.nn.softmax(x),
    "log_softmax": lambda x: mg.nn.log_softmax(x, axis=0),
    "logsumexp": lambda x: mg.nn.logsumexp(x, axis=1),
    "logsumexp_b": lambda x: mg.nn.logsumexp(x, b=np.ones(3, np.float32)),
    "maxout": lambda x: mg.nn.maxout(x, np.ones((2, 3, 4), np.float32), np.ones((2, 4), np.float32)),
    "cross_entropy": lambda x: mg.nn.softmax_cross_entropy(x, np.array([0, 2])),
    "svm": lambda x: mg.nn.multiclass_svm_loss(x, np.array([0, 2])),
}


@pytest.mark.parametrize("name", list(F32_CASES))
def test_float32_stays_float32(name):
    f = F32_CASES[name]
    x = np.array([[1.0, -2.0, 0.5], [1000.0, -1000.0, 3.0]], dtype=np.float32)
    y = f(x)
    assert y.dtype == np.float32, f"{name} returned {y.dtype}"
    assert np.all(np.isfinite(y))
    g = mg.grad(lambda x: mnp.sum(f(x)))(x)
    assert g.dtype == np.float32 and np.all(np.isfinite(g))
    theirs = jax.grad(lambda x: jnp.sum(f_jax(name)(x)))(jnp.asarray(x))
    np.testing.assert_allclose(g, np.asarray(theirs), rtol=1e-5, atol=1e-6)


def f_jax(name):
    return {
        "sigmoid": jax.nn.sigmoid, "relu": jax.nn.relu, "leaky_relu": lambda x: jax.nn.leaky_relu(x, 0.1),
        "elu": lambda x: jax.nn.elu(x, alpha=2.0), "softmax": jax.nn.softmax,
        "log_softmax": lambda x: jax.nn.log_softmax(x, axis=0),
        "logsumexp": lambda x: jax.nn.logsumexp(x, axis=1),
        "logsumexp_b": lambda x: jax.nn.logsumexp(x, b=jnp.ones(3, jnp.float32)),
        "maxout": lambda x: maxout_ref(x, jnp.ones((2, 3, 4), jnp.float32), jnp.ones((2, 4), jnp.float32)),
        "cross_entropy": lambda x: softmax_cross_entropy_ref(x, jnp.array([0, 2])),
        "svm": lambda x: multiclass_svm_loss_ref(x, jnp.array([0, 2])),
    }[name]


def test_integer_inputs_to_float_functions_give_float64():
    x = np.array([-2, 0, 3])
    for f in (mg.nn.sigmoid, mg.nn.elu, mg.nn.softmax, mg.nn.log_softmax, mg.nn.logsumexp):
        assert np.asarray(f(x)).dtype == np.float64
    np.testing.assert_array_equal(mg.nn.relu(x), [0, 0, 3])


@pytest.mark.parametrize("name", ["sigmoid", "elu", "softmax", "log_softmax", "logsumexp"])
def test_second_derivatives_match_jax(name):
    x = rand(7, (5,))
    w = rand(8, (5,), 1.0)

    def f(xp, x):
        y = getattr(nn(xp), name)(x)
        return xp.sum(y * w) if np.ndim(y) else y

    def g_ours(x):
        return mnp.sum(mg.grad(lambda x: f(mnp, x))(x) * w)

    def g_jax(x):
        return jnp.sum(jax.grad(lambda x: f(jnp, x))(x) * w)
    np.testing.assert_allclose(mg.grad(g_ours)(x), np.asarray(jax.grad(g_jax)(jnp.asarray(x))),
                               rtol=1e-10, atol=1e-12)


def test_nn_functions_trace_to_well_typed_jaxprs():
    x = rand(0, (4, 3))
    labels = np.array([0, 2, 1, 1])
    fns = [mg.nn.sigmoid, mg.nn.relu, mg.nn.leaky_relu, mg.nn.elu, mg.nn.softmax, mg.nn.log_softmax,
           lambda x: mg.nn.logsumexp(x, axis=0, keepdims=True),
           lambda x: mg.nn.softmax_cross_entropy(x, labels), lambda x: mg.nn.multiclass_svm_loss(x, labels),
           lambda x: mg.nn.maxout(x, np.ones((2, 3, 5)), np.zeros((2, 5)))]
    for f in fns:
        closed = mg.make_jaxpr(f)(x)
        mg.typecheck(closed.jaxpr)
        (out,) = mg.eval_jaxpr(closed.jaxpr, closed.consts, [x])
        np.testing.assert_allclose(out, f(x), rtol=1e-14)
