"""Nothing silently wrong: every ufunc of the numpy surface gives numpy's values AND dtypes in all three
executors (eager, `mg.jit(backend="numpy")`, `mg.jit` on XLA), or refuses as numpy does.

Hypothesis draws dtypes (int8..int64, uint8..uint64, bool, float16/32/64), broadcast shapes, Python scalar
operands and the values where implementations go wrong: division by zero and negative operands of // and %,
int64/uint64 values near 2**63 and 2**64, signed zeros, inf and nan, Python ints beyond a dtype's range.
All the ufuncs of one draw run in one jitted program, so each draw compiles once. Then: complex numbers are
refused under every transformation; gradients of // and % against JAX; signed zeros through the `x + 0`
simplification; the second derivative of x ** 0.0.
"""
from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from tracing import DTypeError, MinigradError

INTS = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
FLOATS = [np.float16, np.float32, np.float64]
DTYPES = INTS + [np.bool_] + FLOATS
SHAPE_PAIRS = [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((), (2, 3)), ((2, 1), (1, 3)), ((2, 3), ())]

BINARY = ["add", "subtract", "multiply", "divide", "floor_divide", "remainder", "power", "maximum", "minimum",
          "equal", "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or",
          "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor"]
UNARY = ["negative", "positive", "absolute", "sign", "floor", "ceil", "rint", "square", "reciprocal",
         "logical_not", "isfinite", "isnan", "invert", "exp", "log", "log1p", "expm1", "sin", "cos", "tan",
         "tanh", "sqrt"]
# computed by libm in numpy and by XLA's own approximations: equal to a few units in the last place
TRANSCENDENTAL = {"exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "sqrt", "power"}
# what minigrad_fn.numpy refuses on purpose although numpy computes it (integer bit twiddling)
REFUSED = {("bitwise_and", "iu"), ("bitwise_or", "iu"), ("bitwise_xor", "iu"), ("invert", "iu")}
# ties of +0.0 and -0.0: numpy returns one operand or the other (which, differs between float16 and float32),
# XLA orders -0.0 below +0.0; both are IEEE's maximum/minimum, so the sign of a zero result is not compared
ZERO_SIGN_FREE = {"maximum", "minimum"}


# ---------------------------------------------------------------------------------------------------
# values

def _specials(dt):
    dt = np.dtype(dt)
    if dt.kind == "b":
        return [False, True]
    if dt.kind == "f":
        return [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.1, -0.1, 0.5, 2.5, 3.0, -3.0, 6.0, -6.0, 7.0]
    info = np.iinfo(dt)
    vals = {0, 1, 2, 3, 7, info.max, info.max - 1, info.min, info.min + 1, -1, -2, -3, -7}
    if dt.itemsize == 8:
        vals |= {2**62 + 1, -(2**62) - 1, 2**63 - 1, 2**63, 2**63 + 1, 2**64 - 1}
    return sorted(v for v in vals if info.min <= v <= info.max)


def elements(dt):
    """Values of dtype dt, special ones often; floats in [0.01, 100] otherwise (no subnormal operand or
    result: XLA flushes those to zero, see the README's known limits)."""
    dt = np.dtype(dt)
    special = st.sampled_from(_specials(dt))
    if dt.kind == "b":
        return special
    if dt.kind == "f":
        mag = st.floats(float(dt.type(0.01)), 100, width=8 * dt.itemsize, allow_subnormal=False)
        return st.one_of(special, st.tuples(mag, st.booleans()).map(lambda t: -t[0] if t[1] else t[0]))
    info = np.iinfo(dt)
    return st.one_of(special, st.integers(max(info.min, -20), min(info.max, 20)),
                     st.integers(int(info.min), int(info.max)))


@st.composite
def arrays(draw, dt, shape):
    n = int(np.prod(shape))
    values = draw(st.lists(elements(dt), min_size=n, max_size=n))
    return np.array(values, dtype=dt).reshape(shape)


@st.composite
def python_scalar(draw, like):
    """A Python scalar (weakly typed) of the same kind as dtype `like`; ints sometimes beyond its range."""
    dt = np.dtype(like)
    if dt.kind == "b":
        return draw(st.booleans())
    if dt.kind == "f":
        return float(draw(st.sampled_from(_specials(dt)) | st.floats(-100, 100, allow_subnormal=False)))
    big = [2**63, 2**64, -(2**63) - 1, 1000, -1000, 300, -300]
    return draw(st.sampled_from(_specials(np.int64) + big) | st.integers(-20, 20))


# ---------------------------------------------------------------------------------------------------
# running one ufunc everywhere

def _numpy(name, *args):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return np.asarray(getattr(np, name)(*args)), None
        except (TypeError, ValueError, OverflowError) as e:
            return None, e


def _kinds(args) -> str:
    return "".join(sorted({np.asarray(a).dtype.kind for a in args if isinstance(a, np.ndarray)}))


def assert_same(ours, want, what, name, tolerant=False):
    ours = np.asarray(ours)
    assert ours.dtype == want.dtype, f"{what}: dtype {ours.dtype}, numpy's {want.dtype}"
    assert ours.shape == want.shape, f"{what}: shape {ours.shape}, numpy's {want.shape}"
    if want.dtype.kind != "f":
        np.testing.assert_array_equal(ours, want, err_msg=what)
        return
    nan = np.isnan(want)
    np.testing.assert_array_equal(np.isnan(ours), nan, err_msg=f"{what}: nan positions")
    if tolerant:  # a few units in the last place, infinities exact
        rtol = {2: 4e-3, 4: 4e-6, 8: 1e-13}[want.dtype.itemsize]
        # XLA flushes subnormal results to zero
        np.testing.assert_allclose(ours[~nan].astype(np.float64), want[~nan].astype(np.float64), rtol=rtol,
                                   atol=float(np.finfo(want.dtype).tiny), err_msg=what)
        return
    np.testing.assert_array_equal(ours[~nan], want[~nan], err_msg=what)
    if name not in ZERO_SIGN_FREE:
        np.testing.assert_array_equal(np.signbit(ours[~nan]), np.signbit(want[~nan]), err_msg=f"{what}: signs")


def check_all_executors(names, args, closed=()):
    """Every ufunc of `names` on `args` (arrays, passed to jit) and `closed` (Python scalars, closed over,
    after the arrays), compared with numpy in the three executors, the refusals with numpy's."""
    expected = {}
    for name in names:
        want, err = _numpy(name, *args, *closed)
        refused = any(name == r and set(_kinds(args)) & set(kinds) for r, kinds in REFUSED)
        if err is not None or refused:
            with pytest.raises((MinigradError, TypeError, ValueError, OverflowError)):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    getattr(mnp, name)(*args, *closed)
            if err is not None and not refused:  # refused at trace time too, as numpy
                with pytest.raises(MinigradError):
                    mg.make_jaxpr(lambda *a, name=name: getattr(mnp, name)(*a, *closed))(*args)
            continue
        expected[name] = want
    if not expected:
        return

    def program(*a):
        return tuple(getattr(mnp, name)(*a, *closed) for name in expected)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eager = [getattr(mnp, name)(*args, *closed) for name in expected]
        interpreted = mg.jit(program, backend="numpy")(*args)
        compiled = mg.jit(program)(*args)
    for i, (name, want) in enumerate(expected.items()):
        desc = f"{name}({', '.join(f'{np.asarray(a).dtype}{list(np.shape(a))}' for a in args)}" + \
               "".join(f", {c!r}" for c in closed) + f") on {args!r}"
        tolerant = name in TRANSCENDENTAL and want.dtype.kind == "f"
        assert_same(eager[i], want, f"eager {desc}", name, tolerant)
        assert_same(interpreted[i], want, f"jit(backend='numpy') {desc}", name, tolerant)
        # XLA divides by a literal or a broadcast divisor as a multiplication by its reciprocal (README,
        # known limits)
        literal_divisor = name == "divide" and want.dtype.kind == "f" and (
            bool(closed) or np.shape((args + closed)[1]) != want.shape)
        assert_same(compiled[i], want, f"jit (XLA) {desc}", name, tolerant or literal_divisor)


# ---------------------------------------------------------------------------------------------------
# every ufunc, every dtype

@given(st.data())
def test_binary_ufuncs_match_numpy_in_all_executors(data):
    dt1 = data.draw(st.sampled_from(DTYPES), label="dtype1")
    dt2 = data.draw(st.sampled_from([dt1, dt1, *DTYPES]), label="dtype2")  # mostly the same dtype
    s1, s2 = data.draw(st.sampled_from(SHAPE_PAIRS), label="shapes")
    x = data.draw(arrays(dt1, s1), label="x")
    if data.draw(st.integers(0, 4), label="scalar operand") == 0:
        args, closed = (x,), (data.draw(python_scalar(dt1), label="python scalar"),)
    else:
        args, closed = (x, data.draw(arrays(dt2, s2), label="y")), ()
    names = list(BINARY)
    y = (args + closed)[1]
    if np.asarray(y).dtype.kind in "iu" or type(y) is int:  # integers to negative powers: numpy raises (by value)
        if np.any(np.asarray(y, dtype=object) < 0) and np.result_type(*args, *closed).kind in "iu":
            names.remove("power")
    check_all_executors(names, args, closed)


@given(st.data())
def test_unary_ufuncs_match_numpy_in_all_executors(data):
    dt = data.draw(st.sampled_from(DTYPES), label="dtype")
    shape = data.draw(st.sampled_from([(), (4,), (2, 3)]), label="shape")
    x = data.draw(arrays(dt, shape), label="x")
    names = list(UNARY)
    if np.dtype(dt).kind in "iu" and np.any(x == 0):  # numpy's integer 1 / 0 is undefined (a platform value)
        names.remove("reciprocal")
    check_all_executors(names, (x,))


@pytest.mark.parametrize("dt", INTS + FLOATS)
def test_floor_divide_and_remainder_edge_cases(dt):
    """Division by zero, negative operands, huge integers, infinities, signed zeros: all pairs at once."""
    v = np.array(_specials(dt), dtype=dt)
    x, y = np.meshgrid(v, v)
    check_all_executors(["floor_divide", "remainder"], (x.ravel(), y.ravel()))


def test_the_reported_cases():
    assert mg.jit(lambda x: x % 3)(np.array([2**62 + 1]))[0] == (2**62 + 1) % 3
    assert mg.jit(lambda x: x // 0)(np.array([5, -5]))[0] == 0
    assert float(mg.jit(lambda x: x // 0.1)(np.array(1.0))) == 9.0
    assert float(mg.jit(lambda x: x % np.inf)(np.array(5.0))) == 5.0
    assert mnp.remainder(np.array([2**62 + 1]), 3)[0] == (2**62 + 1) % 3
    b = np.array([True, False, True])
    c = np.array([True, True, False])
    for f in (lambda y, z: y * z, lambda y, z: y + z, mnp.maximum, mnp.minimum):
        want = np.asarray(f(b, c))
        for run in (f, mg.jit(f, backend="numpy"), mg.jit(f)):
            got = np.asarray(run(b, c))
            assert got.dtype == np.bool_ and (got == want).all()


# ---------------------------------------------------------------------------------------------------
# comparisons and clip with Python ints beyond the range, uint64 against int64

@given(st.data())
def test_comparisons_with_python_ints_beyond_the_range(data):
    dt = data.draw(st.sampled_from(INTS), label="dtype")
    x = data.draw(arrays(dt, (4,)), label="x")
    c = data.draw(st.sampled_from([2**64, 2**63, 2**100, -(2**63) - 1, -(2**64), 1000, -1000, 300, -1]), label="c")
    names = ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]
    check_all_executors(names, (x,), (c,))
    # with the Python int first
    for name in names:
        want = getattr(np, name)(c, x)
        for run in (lambda a: getattr(mnp, name)(c, a), mg.jit(lambda a: getattr(mnp, name)(c, a))):
            assert_same(run(x), want, f"{name}({c}, {dt.__name__})", name)


def test_uint64_against_signed_integers_compares_exactly():
    u = np.array([0, 1, 2**63 - 1, 2**63, 2**63 + 1, 2**64 - 1, 2**64 - 2, 5], np.uint64)
    s = np.array([0, -1, 2**63 - 1, -(2**63), 2**62, -1, 2**63 - 1, 5], np.int64)
    names = ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"]
    check_all_executors(names, (u, s))
    check_all_executors(names, (s, u))
    check_all_executors(names, (s.astype(np.int8), u))


@pytest.mark.parametrize("dt", INTS)
def test_clip_with_python_ints_beyond_the_range(dt):
    x = np.array(_specials(dt), dtype=dt)
    info = np.iinfo(dt)
    for lo, hi in [(int(info.min) - 1000, int(info.max) + 1000), (-(2**70), 3), (1, 2**70)]:
        want = x.clip(lo, hi)
        for run in (lambda a: mnp.clip(a, lo, hi), mg.jit(lambda a: mnp.clip(a, lo, hi), backend="numpy"),
                    mg.jit(lambda a: mnp.clip(a, lo, hi))):
            assert_same(run(x), want, f"clip({dt.__name__}, {lo}, {hi})", "clip")


def test_a_python_int_numpy_refuses_is_refused_clearly():
    x = np.array([1, 2], np.int8)
    with pytest.raises(OverflowError, match="1000 is out of bounds for int8"):
        mg.jit(lambda a: a + 1000)(x)
    with pytest.raises(MinigradError, match="test_semantics.py"):  # the user's line
        mnp.maximum(x, -1000)


# ---------------------------------------------------------------------------------------------------
# complex numbers: refused under every transformation, at the first operation that makes or takes one

X = np.array([1.0, 2.0, 3.0])
COMPLEX_FUNCTIONS = {
    "times 1j": (lambda x: mnp.sum(mnp.abs(x * 1j)), "multiply"),
    "plus a complex array": (lambda x: mnp.sum(x + np.array([1j, 0, 0])), "add"),
    "astype": (lambda x: mnp.sum(x.astype(np.complex64)), "astype"),
    "complex constant": (lambda x: mnp.sum(x) * np.complex128(2), "multiply"),
    "where": (lambda x: mnp.sum(mnp.where(x > 1, x, 1j)), "where"),
}
TRANSFORMS = {
    "grad": lambda f: mg.grad(f)(X),
    "value_and_grad": lambda f: mg.value_and_grad(f)(X),
    "vjp": lambda f: mg.vjp(f, X),
    "jit": lambda f: mg.jit(f)(X),
    "jit numpy": lambda f: mg.jit(f, backend="numpy")(X),
    "make_jaxpr": lambda f: mg.make_jaxpr(f)(X),
    "vmap": lambda f: mg.vmap(f)(X[:, None]),
    "jvp": lambda f: mg.jvp(f, (X,), (X,)),
}


@pytest.mark.parametrize("transform", list(TRANSFORMS))
@pytest.mark.parametrize("case", list(COMPLEX_FUNCTIONS))
def test_complex_numbers_are_refused_under_every_transformation(transform, case):
    f, op = COMPLEX_FUNCTIONS[case]
    with pytest.raises(DTypeError) as e:
        TRANSFORMS[transform](f)
    msg = str(e.value)
    assert "complex numbers are not supported yet" in msg and f"{op}:" in msg, msg
    assert "test_semantics.py" in msg and "complex" in msg.split("(operands", 1)[1], msg  # user's line, dtypes


def test_complex_numbers_are_refused_eagerly_too():
    for f, op in [(lambda: mnp.multiply(X, 1j), "multiply"), (lambda: mnp.abs(X * 1j), "absolute"),
                  (lambda: mnp.sum(X + 1j), "sum"),
                  (lambda: mnp.less(X, np.complex64(1)), "less"), (lambda: mnp.exp(np.array(1j)), "exp")]:
        with pytest.raises(DTypeError, match=f"{op or ''}.*complex numbers are not supported yet"):
            f()


def test_complex_arguments_are_refused_at_their_first_operation():
    import minigrad_fn.lax
    z = np.array([1j, 2.0])
    for run in (mg.jit(lambda a: mnp.abs(a)), mg.jit(lambda a: mnp.sum(a)), mg.jit(lambda a: a * 2.0)):
        with pytest.raises(DTypeError, match="complex numbers are not supported yet"):
            run(z)
    with pytest.raises(DTypeError, match="neg: complex numbers are not supported yet"):  # the primitives too
        mg.make_jaxpr(minigrad_fn.lax.neg)(z)


# ---------------------------------------------------------------------------------------------------
# gradients of // and % against JAX

@given(st.data())
def test_gradients_of_floor_divide_and_remainder_match_jax(data):
    dt = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    n = 5
    def signed(lo, hi):
        mag = st.floats(float(np.float32(lo)), hi, width=32, allow_subnormal=False)
        return st.tuples(mag, st.booleans()).map(lambda t: -t[0] if t[1] else t[0])
    x = np.array(data.draw(st.lists(signed(0.05, 50), min_size=n, max_size=n)), dt)
    y = np.array(data.draw(st.lists(signed(0.5, 20), min_size=n, max_size=n)), dt)
    q = np.concatenate([x.astype(np.float64) / y, y / 1.5])
    # away from the jumps, where finite differences break and JAX's d/dy uses trunc(x / y)
    assume(np.all(np.abs(q - np.round(q)) > 1e-2))

    def loss(xp):
        return lambda a, b: xp.sum(xp.sin(a) * (a % b) + xp.cos(b) * (a // b) + (b % 1.5) * a)
    want = jax.grad(loss(jnp), argnums=(0, 1))(x, y)
    for run in (mg.grad(loss(mnp), argnums=(0, 1)), mg.jit(mg.grad(loss(mnp), argnums=(0, 1))),
                mg.jit(mg.grad(loss(mnp), argnums=(0, 1)), backend="numpy")):
        got = run(x, y)
        for g, w in zip(got, want):
            assert np.asarray(g).dtype == dt
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-4 if dt == np.float32 else 1e-12,
                                       atol=1e-5 if dt == np.float32 else 1e-12)
    _, t = mg.jvp(lambda a: mnp.sum(a % y + a // y), (x,), (np.ones_like(x),))
    np.testing.assert_allclose(t, n, rtol=1e-6)  # d(x % y)/dx = 1, d(x // y) = 0
    mg.check_grads(lambda a, b: loss(mnp)(a, b), (x.astype(np.float64), y.astype(np.float64)), order=2)


# ---------------------------------------------------------------------------------------------------
# signed zeros through the simplification of x + 0; pow's second derivative

@pytest.mark.parametrize("f, x, removed", [
    (lambda x: x + 0.0, -0.0, False),           # -0.0 + 0.0 is +0.0: not x
    (lambda x: 0.0 + x, -0.0, False),
    (lambda x: x + -0.0, -0.0, True),           # x + -0.0 is x for every x
    (lambda x: x - 0.0, -0.0, True),            # x - 0.0 is x for every x
    (lambda x: x - -0.0, -0.0, False),          # -0.0 - -0.0 is +0.0
    (lambda x: x * 1.0 + 0.0, -0.0, False),
])
def test_simplification_keeps_signed_zeros(f, x, removed):
    for dt in (np.float16, np.float32, np.float64):
        a = np.array([x, 0.0, 1.5], dt)
        with np.errstate(all="ignore"):
            want = np.asarray(f(a))
        for run in (f, mg.jit(f, backend="numpy"), mg.jit(f)):
            assert_same(run(a), want, f"{dt.__name__}", "")
        names = [e.prim.name for e in mg.make_jaxpr(f)(a).eqns]
        assert (not any(n in ("add", "sub") for n in names)) == removed, names


def test_simplification_of_integer_zeros_is_kept():
    a = np.array([1, -2], np.int32)
    assert [e.prim.name for e in mg.make_jaxpr(lambda x: (x + 0) - 0)(a).eqns] == []


def test_second_derivative_of_x_to_the_zero_at_zero():
    assert float(mg.grad(mg.grad(lambda x: x ** 0.0))(0.0)) == 0.0
    assert float(mg.jit(mg.grad(mg.grad(lambda x: x ** 0.0)))(0.0)) == 0.0
    assert float(mg.grad(mg.grad(mg.grad(lambda x: x ** 0.0)))(0.0)) == 0.0
    assert float(mg.grad(mg.grad(lambda x: x ** 1.0))(0.0)) == 0.0  # JAX: nan
    for p in (0.0, 1.0, 2.0, 0.5, 3.0):  # where JAX is finite, ours is JAX's
        for x in (0.0, 0.5, 2.0):
            j = float(jax.grad(jax.grad(lambda a: a ** p))(x))
            if np.isfinite(j):
                assert float(mg.grad(mg.grad(lambda a: a ** p))(x)) == pytest.approx(j, rel=1e-12), (p, x)


def test_logical_primitives_are_logical_on_integers():
    import minigrad_fn.lax as L
    a = np.array([0, 1, 2, -4, 8], np.int32)
    b = np.array([3, 0, 1, 4, 0], np.int32)
    for f, want in [(L.logical_and, np.logical_and(a, b)), (L.logical_or, np.logical_or(a, b)),
                    (lambda x, y: L.logical_not(x), np.logical_not(a))]:
        for run in (f, mg.jit(f, backend="numpy"), mg.jit(f)):
            assert_same(run(a, b), want, "logical", "")
