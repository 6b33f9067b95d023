"""Classes of tests closing holes a mutation run found (planted bugs that no test caught).

1. the algebraic "simplify" rules beside the primitives (transpose folded into dot_general, known select
   masks, neg(neg(x)), the unit rules x*1, x+0, x-0, x/1, x**1, transpose and reshape chains, reduce_sum
   over no axes, known gather/scatter indices) and CSE: the optimised program (jit on XLA and numpy,
   eval_jaxpr of make_jaxpr) against the unoptimised one, numpy, and jax.grad;
2. DCE of the outputs of a jit call that the caller leaves unused;
3. jit's VJP cache (per argnums, per pattern of nonzero cotangents, closures over tracers);
4. seeding of repeated outputs, outputs that are inputs and repeated pytree leaves;
5. lowering of every elementwise function on integer and bool operands, and round at exact ties;
6. float16 (and float32) reductions: numpy's result dtypes, values within a stated bound, their gradients;
7. from a mutmut run over the core: jit's cache keys (static values of every type, negative static_argnums,
   lower() and calls sharing entries, its counts) and its error for unhashable static arguments, optimize()
   inside nested programs of every form, errors naming vjp/grad and the function, and jit's backward
   programs cached per pattern, every program of a jitted function run on the backend asked for,
   transformed functions' names and __wrapped__, CSE keys of namedtuple parameters, and which values may
   become Python numbers under grad; and from its resumed run (a random sample of the rest): jit's VJP
   split (no input kept as a residual, each residual once, constant outputs, zeros of the input's dtype),
   cotangents taken in the output's dtype, arguments outside argnums of any type, writable results, one
   snapshot per shared residual, the straight-line executor's multiple-result calls and its rerun, custom
   backward parts in another dtype, nested calls pruned in bodies, partials' names (typecheck's messages,
   static_argnums by keyword and constant folding of a failing implementation are tested beside their
   modules, in test_passes.py and test_jit.py).

Everything is checked against numpy, or against JAX in float64 (conftest enables x64).

Equivalent mutants of that mutmut run (no observable change; not to be "killed"): a `... or True` in
RewriteContext.producer (literals are never keys of producers); the unused `n_consts` of _optimize_body
changed by its callers; `new_consts=None` (falsy, as False); the value of the "optimized" marker (only
tested with `in`) or the marker never found (a body optimised twice: the same result, slower); jit's lower()
looking up the cache for arguments that are not arrays (tracing raises before any entry can exist); and
`with_values=None` in _trace_backward (tested for truth only); `np.array(c)` without `copy=True` in
jit's _snapshot (a copy all the same) and its read-only flag (nothing in the library writes to a kept
constant; the copy is what protects it from the caller); `prim=None` passed to a custom VJP forward
part (every custom `fwd` knows its own primitive). In the resumed run: caches looked up or stored under
another key (last_uses, an unfolded constant's value: recomputed, same result), `False`/default arguments
replaced by `None`, tag strings only compared with keys the same function makes, `repr` instead of
`tobytes` for a literal's key (a 0-d array's repr round-trips), and an array owner of None (every result
copied: memory and time only).
"""
from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from minigrad_fn import lax
from minigrad_fn.compiler import JitCacheInfo


# ---------------------------------------------------------------------------------------------
# helpers

def _leaves(tree):
    return jax.tree_util.tree_leaves(tree)


def _every_way(f, *args):
    """The output leaves of `f(mnp, *args)` computed eagerly, by jit on XLA and on numpy, and by
    eval_jaxpr of make_jaxpr's optimised and unoptimised programs (each type-checked)."""
    g = lambda *a: f(mnp, *a)  # noqa: E731
    flat = _leaves(args)
    ways = {"eager": _leaves(g(*args)),
            "jit": _leaves(mg.jit(g)(*args)),
            "jit-numpy": _leaves(mg.jit(g, backend="numpy")(*args))}
    for optimize in (True, False):
        closed = mg.make_jaxpr(g, optimize=optimize)(*args)
        mg.typecheck(closed.jaxpr)
        ways[f"make_jaxpr(optimize={optimize})"] = mg.eval_jaxpr(closed.jaxpr, closed.consts, flat)
    return ways


def _assert_same(got, want, what="", rtol=1e-12, atol=0.0, exact=False):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if exact or got.dtype.kind not in "fc":
        np.testing.assert_array_equal(got, want, err_msg=what)
        if got.dtype.kind == "f":
            assert np.array_equal(np.signbit(got), np.signbit(want)), f"{what}: signs of zeros differ"
    else:
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, err_msg=what)


def _check_every_way(f, *args, exact=False, rtol=1e-12, atol=0.0, ref=np):
    """f(mnp, ...) computed every way equals f(np, ...) (leaf by leaf, dtype included); `ref=jnp`: equals
    jax.jit of f(jnp, ...) instead (float64)."""
    if ref is np:
        want = _leaves(f(np, *args))
    else:
        want = [np.asarray(o) for o in _leaves(jax.jit(lambda *a: f(jnp, *a))(*args))]
    for way, got in _every_way(f, *args).items():
        assert len(got) == len(want), way
        for i, (a, b) in enumerate(zip(got, want)):
            _assert_same(a, b, f"{way}, output {i}", rtol=rtol, atol=atol, exact=exact)


def _weights(f, args, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(np.shape(o)) for o in _leaves(f(np, *args))]


def _check_grads(f, *args, argnums=0, rtol=1e-10, atol=1e-12, ws=None):
    """The gradient of sum(w_i * output_i) by mg.grad, jit(grad) (XLA and numpy) and grad(jit) (numpy;
    grad of an XLA jit is section 3's), against jax.grad (float64, under jax.jit: JAX's eager dispatch
    compiles every operation of every new shape, ten times slower than one compilation)."""
    ws = _weights(f, args) if ws is None else ws

    def loss(xp, *a):
        return sum(xp.sum(o * w) for o, w in zip(_leaves(f(xp, *a)), ws))

    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    theirs = jax.jit(jax.grad(lambda *a: loss(jnp, *a), argnums=nums))(*args)
    g = lambda *a: loss(mnp, *a)  # noqa: E731
    ways = {"grad": mg.grad(g, argnums=nums),
            "jit(grad)": mg.jit(mg.grad(g, argnums=nums)),
            "jit(grad) numpy": mg.jit(mg.grad(g, argnums=nums), backend="numpy"),
            "grad(jit numpy)": mg.grad(mg.jit(g, backend="numpy"), argnums=nums)}
    for way, fn in ways.items():
        ours = fn(*args)
        for i, a, b in zip(nums, ours, theirs):
            _assert_same(a, np.asarray(b), f"{way}, d/d argument {i}", rtol=rtol, atol=atol)


def _prim_names(closed):
    return [e.prim.name for e in closed.jaxpr.eqns]


_SLOW = settings.default.max_examples > 40  # the "slow" profile (--slow)


def _examples(n):
    """About n/2 hypothesis examples in the default run (each compiles a few XLA programs, ~25 ms each; CI's
    time budget); the slow profile's count under --slow."""
    return settings(max_examples=settings.default.max_examples if _SLOW else max(4, n // 2))


def _floats(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ---------------------------------------------------------------------------------------------
# 1. simplify rules: a transpose folded into dot_general

@st.composite
def _einsum_problems(draw):
    """An einsum of two operands, each of which is a transpose (any permutation) of an input: letters
    for batch axes (in both operands and the output), contracted axes, and each operand's free axes, in
    drawn orders in the operands and in the output."""
    nb, nc, na, nf = (draw(st.integers(0, 2)) for _ in range(4))
    assume(nb + nc + na >= 1 and nb + nc + nf >= 1)
    letters = iter("abcdefghij")
    batch, contr = [next(letters) for _ in range(nb)], [next(letters) for _ in range(nc)]
    afree, bfree = [next(letters) for _ in range(na)], [next(letters) for _ in range(nf)]
    sizes = {c: draw(st.integers(1, 3)) for c in batch + contr + afree + bfree}
    a_lab = draw(st.permutations(batch + contr + afree))
    b_lab = draw(st.permutations(batch + contr + bfree))
    out = draw(st.permutations(batch + afree + bfree))
    pa = tuple(draw(st.permutations(range(len(a_lab)))))
    pb = tuple(draw(st.permutations(range(len(b_lab)))))
    # transpose(A, pa) has the labelled shape: A's axis pa[i] is the operand's axis i
    a_shape, b_shape = [0] * len(pa), [0] * len(pb)
    for i, p in enumerate(pa):
        a_shape[p] = sizes[a_lab[i]]
    for i, p in enumerate(pb):
        b_shape[p] = sizes[b_lab[i]]
    spec = f"{''.join(a_lab)},{''.join(b_lab)}->{''.join(out)}"
    seed = draw(st.integers(0, 2**16))
    return spec, pa, pb, _floats(tuple(a_shape), seed), _floats(tuple(b_shape), seed + 1)


@_examples(15)
@given(_einsum_problems())
def test_einsum_of_transposed_operands(problem):
    spec, pa, pb, a, b = problem

    def f(xp, a, b):
        return xp.einsum(spec, xp.transpose(a, pa), xp.transpose(b, pb))
    _check_every_way(f, a, b, atol=1e-13)   # (atol: XLA sums in its own order, near-cancellations)
    _check_grads(f, a, b, argnums=(0, 1))


@st.composite
def _dot_general_problems(draw):
    """lax.dot_general with batch and contracting axes anywhere in each operand, each operand a transpose
    (any permutation, 3-cycles included) of an input, sometimes a transpose of a transpose."""
    nb, nc, na, nf = (draw(st.integers(0, 2)) for _ in range(4))
    assume(nb + nc + na >= 1 and nb + nc + nf >= 1)
    bs = [draw(st.integers(1, 3)) for _ in range(nb)]
    cs = [draw(st.integers(1, 3)) for _ in range(nc)]
    ra, rb = nb + nc + na, nb + nc + nf
    a_pos = draw(st.permutations(range(ra)))   # a_pos[:nb] batch axes, then contracted, then free
    b_pos = draw(st.permutations(range(rb)))
    a_op, b_op = [0] * ra, [0] * rb
    for k, s in enumerate(bs + cs):
        a_op[a_pos[k]] = s
        b_op[b_pos[k]] = s
    for k in range(nb + nc, ra):
        a_op[a_pos[k]] = draw(st.integers(1, 3))
    for k in range(nb + nc, rb):
        b_op[b_pos[k]] = draw(st.integers(1, 3))
    dn = ((tuple(a_pos[nb:nb + nc]), tuple(b_pos[nb:nb + nc])), (tuple(a_pos[:nb]), tuple(b_pos[:nb])))
    perms = []
    for shape in (a_op, b_op):
        chain = [tuple(draw(st.permutations(range(len(shape))))) for _ in range(draw(st.integers(1, 2)))]
        # the input's shape: undo the chain of transposes from the operand's shape
        s = list(shape)
        for p in reversed(chain):
            prev = [0] * len(p)
            for i, q in enumerate(p):
                prev[q] = s[i]
            s = prev
        perms.append((chain, tuple(s)))
    seed = draw(st.integers(0, 2**16))
    return dn, perms[0][0], perms[1][0], _floats(perms[0][1], seed), _floats(perms[1][1], seed + 1)


@_examples(15)
@given(_dot_general_problems())
def test_dot_general_of_transposed_operands(problem):
    dn, chain_a, chain_b, a, b = problem

    def chain(xp, x, perms):
        for p in perms:
            x = xp.transpose(x, p)
        return x

    def f(xp, a, b):
        a, b = chain(xp, a, chain_a), chain(xp, b, chain_b)
        return (lax if xp is mnp else jax.lax).dot_general(a, b, dn)
    _check_every_way(f, a, b, ref=jnp, atol=1e-13)
    _check_grads(f, a, b, argnums=(0, 1))


@st.composite
def _matmul_problems(draw):
    op = draw(st.sampled_from(["matmul", "dot", "tensordot", "inner"]))
    m, k, n = (draw(st.integers(1, 4)) for _ in range(3))
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=2))) if op == "matmul" else ()
    if op == "inner":
        xs, ys = (m, k), (n, k)
    else:
        xs, ys = batch + (m, k), batch + (k, n)
    pa = tuple(draw(st.permutations(range(len(xs)))))
    pb = tuple(draw(st.permutations(range(len(ys)))))
    # inputs whose transposes by pa, pb have the shapes xs, ys
    a_shape, b_shape = [0] * len(pa), [0] * len(pb)
    for i, p in enumerate(pa):
        a_shape[p] = xs[i]
    for i, p in enumerate(pb):
        b_shape[p] = ys[i]
    seed = draw(st.integers(0, 2**16))
    return op, pa, pb, _floats(tuple(a_shape), seed), _floats(tuple(b_shape), seed + 1)


@_examples(15)
@given(_matmul_problems())
def test_matmul_dot_tensordot_of_transposed_operands(problem):
    op, pa, pb, a, b = problem

    def f(xp, a, b):
        x, y = xp.transpose(a, pa), xp.transpose(b, pb)
        if op == "tensordot":
            return xp.tensordot(x, y, axes=([1], [0]))
        return getattr(xp, op)(x, y)
    _check_every_way(f, a, b, atol=1e-13)
    _check_grads(f, a, b, argnums=(0, 1))


def test_swapaxes_and_T_fold_into_matmul_for_both_operands():
    a, b = _floats((2, 4, 3)), _floats((2, 5, 4), 1)
    f = lambda xp, a, b: xp.swapaxes(a, 1, 2) @ b.transpose(0, 2, 1)  # noqa: E731
    _check_every_way(f, a, b, atol=1e-13)
    _check_grads(f, a, b, argnums=(0, 1))
    # the two transposes are folded away: one dot_general left
    assert _prim_names(mg.make_jaxpr(lambda a, b: f(mnp, a, b))(a, b)) == ["dot_general"]


# ---------------------------------------------------------------------------------------------
# 1. simplify rules: select with a known mask

@st.composite
def _mask_problems(draw):
    """where(mask, x, y) with a mask known at trace time (mixed, all True, all False) of a broadcastable
    shape, given as a numpy array, a Python bool, integers, or computed from constants in the program;
    x and y of broadcastable shapes too."""
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=3)))

    def sub_shape():  # a shape that broadcasts to `shape`
        k = draw(st.integers(0, len(shape)))
        return tuple(1 if draw(st.booleans()) else d for d in shape[len(shape) - k:])
    kind = draw(st.sampled_from(["mixed", "all", "none"]))
    mshape = sub_shape()
    n = int(np.prod(mshape, dtype=int))
    if kind == "mixed":
        bits = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    else:
        bits = [kind == "all"] * n
    mask = np.array(bits, bool).reshape(mshape)
    form = draw(st.sampled_from(["array", "ints", "computed"] + (["python"] if kind != "mixed" else [])))
    seed = draw(st.integers(0, 2**16))
    return mask, form, _floats(sub_shape() or shape, seed), _floats(sub_shape(), seed + 1), shape


@_examples(25)
@given(_mask_problems())
def test_where_with_a_known_mask(problem):
    mask, form, a, b, shape = problem

    def f(xp, a, b):
        if form == "python":
            m = bool(mask.all())
        elif form == "ints":
            m = mask.astype(np.int32) * 3
        elif form == "computed":  # equations of constants in the program: folded, then known
            m = xp.asarray(mask.astype(np.float64)) > 0.5
        else:
            m = mask
        # shape: the output always has the full shape, whichever operand is kept
        return xp.where(m, xp.sin(a), b * 2.0) + xp.zeros(shape), xp.where(m, a, b)
    _check_every_way(f, a, b, rtol=1e-15)
    _check_grads(f, a, b, argnums=(0, 1))


@pytest.mark.parametrize("mask", [True, False, np.array([True, False, True]), np.ones((2, 1), bool),
                                  np.zeros((2, 1), bool), np.array([[True], [False]])])
def test_where_keeps_the_broadcast_shape_and_dtype_of_the_result(mask):
    a, b = np.array([1.0, -0.0, 3.0]), np.int32(7)  # the kept operand is smaller, or an integer
    _check_every_way(lambda xp, a: xp.where(mask, a, b), a, exact=True)
    _check_every_way(lambda xp, a: xp.where(mask, b, a), a, exact=True)
    _check_every_way(lambda xp, a: xp.where(mask, a.astype(np.float32), np.float32(2)), a, exact=True)


# ---------------------------------------------------------------------------------------------
# 1. simplify rules: neg(neg(x)), the unit rules, x ** 1

@_examples(20)
@given(st.lists(st.sampled_from(["neg", "keep", "abs", "sub0", "mul1"]), min_size=1, max_size=6),
       st.sampled_from([np.float64, np.float32, np.int8, np.int32]))
def test_chains_of_negations(ops, dtype):
    """Negations interleaved with other operations, each intermediate also returned (so a folded
    neg(neg(x)) must not lose the inner value)."""
    x = np.array([0.0, -0.0, 1.5, -2.0, 3.0]) if np.dtype(dtype).kind == "f" else \
        np.array([0, 1, -1, 5, np.iinfo(dtype).min, np.iinfo(dtype).max])
    x = x.astype(dtype)

    def f(xp, x):
        outs = []
        for op in ops:
            x = {"neg": lambda v: -v, "keep": lambda v: v, "abs": xp.abs, "sub0": lambda v: v - 0,
                 "mul1": lambda v: 1 * v}[op](x)
            outs.append(x)
        return outs
    with np.errstate(over="ignore"):
        _check_every_way(f, x, exact=True)
    if np.dtype(dtype) == np.float64:
        _check_grads(lambda xp, x: f(xp, x + 0.25), x)   # away from abs's kink at 0


_UNIT_OPS = {"add": (lambda a, b: a + b, 0), "radd": (lambda a, b: b + a, 0),
             "sub": (lambda a, b: a - b, 0), "rsub": (lambda a, b: b - a, 0),
             "mul": (lambda a, b: a * b, 1), "rmul": (lambda a, b: b * a, 1),
             "div": (lambda a, b: a / b, 1), "rdiv": (lambda a, b: b / a, 1)}


@st.composite
def _unit_problems(draw):
    """x op u with u the unit of op (or u = -0.0, or a unit array with one element not the unit, a power
    of two so every result is exact), u a Python scalar, a numpy scalar of some dtype, or an array of a
    shape that x broadcasts to or that broadcasts to x."""
    op = draw(st.sampled_from(sorted(_UNIT_OPS)))
    dtype = np.dtype(draw(st.sampled_from([np.float64, np.float32, np.float16, np.int32, np.int8, np.bool_])))
    shape = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    unit = _UNIT_OPS[op][1]
    value = draw(st.sampled_from([unit, unit, -0.0, 2.0]) if unit == 0 else st.sampled_from([unit, unit, 2.0]))
    form = draw(st.sampled_from(["python", "numpy scalar", "same shape", "bigger", "smaller"]))
    udtype = np.dtype(draw(st.sampled_from([np.float64, np.float32, np.int32, np.int8, np.bool_])))
    if form == "python":  # a float, an int or a bool (numpy's weak scalars)
        exact_int = not np.signbit(value)
        u = draw(st.sampled_from([float(value)] + ([int(value)] if exact_int else []) +
                                 ([bool(value)] if exact_int and value in (0, 1) else [])))
    else:
        ushape = {"numpy scalar": (), "same shape": shape, "bigger": (2,) + shape,
                  "smaller": shape[1:]}[form]
        u = np.full(ushape, unit, udtype)
        if value != unit and u.size:
            u.reshape(-1)[draw(st.integers(0, u.size - 1))] = value  # one element not the unit
        elif value != unit and udtype.kind == "f":
            u = np.full(ushape, value, udtype)
        if form == "numpy scalar":
            u = u[()]
    if dtype == np.bool_:
        x = np.resize(np.array([True, False, True]), shape)
    elif dtype.kind == "f":
        x = np.resize(np.array([-0.0, 0.0, 1.5, -2.25, 3.0, -0.5]), shape).astype(dtype)
    else:
        x = np.resize(np.array([-3, 0, 7, 1, -1, 5]), shape).astype(dtype)
    return op, x, u


@_examples(40)
@given(_unit_problems())
def test_unit_rules_against_numpy(problem):
    """x + 0, x - 0, x * 1, x / 1 (either side) are x only when the result has x's shape and dtype, and
    for floats only for the zero of the right sign: -0.0 + 0.0 is +0.0 (numpy's), x + -0.0 is x."""
    op, x, u = problem
    fn = _UNIT_OPS[op][0]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            want = fn(x, u)
        except TypeError:  # numpy refuses bool - bool
            assume(False)
        del want
        _check_every_way(lambda xp, x: fn(x, u), x, exact=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_adding_zero_keeps_numpys_signs_of_zeros(dtype):
    x = np.array([-0.0, 0.0, -1.0], dtype)
    for fn in (lambda x: x + 0.0, lambda x: 0.0 + x, lambda x: x + -0.0, lambda x: -0.0 + x,
               lambda x: x - 0.0, lambda x: x - -0.0, lambda x: 0.0 - x, lambda x: -0.0 - x,
               lambda x: x + np.zeros(3, dtype), lambda x: x + np.full(3, -0.0, dtype),
               lambda x: x - np.zeros((2, 3), dtype), lambda x: x + np.array([-0.0, 0.0, -0.0], dtype)):
        _check_every_way(lambda xp, x: fn(x), x, exact=True)
        _check_every_way(lambda xp, x: fn(-x), x, exact=True)   # the zero produced by an equation


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32, np.int8])
@pytest.mark.parametrize("y", [1, 0, 2, 3, -1])
def test_integer_powers(dtype, y):
    x = np.array([0, 1, -1, 2, -3, 5]).astype(dtype)
    if np.dtype(dtype).kind == "i" and y < 0:
        return  # numpy raises (test_numpy_ufuncs checks it)
    with np.errstate(all="ignore"):
        _check_every_way(lambda xp, x: (x ** y, xp.power(x, y), xp.square(x ** y)), x, exact=True)
    if np.dtype(dtype) == np.float64:
        _check_grads(lambda xp, x: (x ** y) * 1.0, x + 0.5)
        if y >= 0:
            _check_grads(lambda xp, x: (x ** y) * 1.0, np.zeros(3))   # at 0: x ** 1 has slope 1, x ** 0 has 0


@pytest.mark.parametrize("fn, left", [
    (lambda xp, x: -(-x), []),
    (lambda xp, x: (x * 1) - 0 + -0.0, []),
    (lambda xp, x: (x / 1.0 - 0.0) ** 1, []),
    (lambda xp, x: xp.where(True, x, 2 * x) * xp.ones(x.shape), []),
    (lambda xp, x: xp.sum(x * 1.0 + -0.0, axis=()), []),
    (lambda xp, x: xp.transpose(xp.transpose(x, (1, 2, 0)), (2, 0, 1)), []),
    # (the reshape rule merges the two reshapes but does not drop the merged one when it is the identity:
    # a missed rewrite, not a wrong answer)
    (lambda xp, x: xp.reshape(xp.reshape(x, (6, 4)), (2, 3, 4)), ["reshape"]),
], ids=["negneg", "mul1add0", "div1sub0pow1", "where-true", "sum-no-axes", "transpose-inverse", "reshape-back"])
def test_identities_fold_and_keep_gradients(fn, left):
    """Programs that are the identity: optimised to (almost) no equation, and the gradient is w (jax's)."""
    x = _floats((2, 3, 4))
    _check_every_way(fn, x, exact=True)
    _check_grads(fn, x)
    assert _prim_names(mg.make_jaxpr(lambda x: fn(mnp, x))(x)) == left


# ---------------------------------------------------------------------------------------------
# 1. simplify rules: chains of transposes and of reshapes, reduce_sum over no axes

@_examples(25)
@given(st.integers(1, 5).flatmap(lambda r: st.tuples(
    st.just(r), st.lists(st.permutations(range(r)), min_size=1, max_size=4),
    st.lists(st.booleans(), min_size=4, max_size=4), st.integers(0, 2**16))))
def test_chains_of_transposes(problem):
    """Composed permutations (3-cycles and longer, not only self-inverse swaps); some intermediates
    returned as well."""
    r, perms, keep, seed = problem
    x = _floats(tuple(range(2, 2 + r)), seed)  # distinct sizes: a wrong composition changes the shape

    def f(xp, x):
        outs = []
        for p, k in zip(perms, keep):
            x = xp.transpose(x, tuple(p))
            if k:
                outs.append(x)
        return outs + [x * 2.0]
    _check_every_way(f, x, exact=True)
    _check_grads(f, x)


@st.composite
def _reshape_chains(draw):
    factors = draw(st.lists(st.sampled_from([1, 2, 2, 3]), min_size=1, max_size=5))

    def a_shape():
        fs = draw(st.permutations(factors))
        shape = []
        for f in fs:
            if shape and draw(st.booleans()):
                shape[-1] *= f
            else:
                shape.append(f)
        return tuple(shape)
    steps = draw(st.lists(st.one_of(st.builds(lambda s: ("reshape", s), st.just(None)),
                                    st.just(("transpose", None)), st.just(("neg", None))),
                          min_size=1, max_size=5))
    steps = [(k, a_shape() if k == "reshape" else None) for k, _ in steps]
    keep = draw(st.lists(st.booleans(), min_size=len(steps), max_size=len(steps)))
    return a_shape(), steps, keep, draw(st.integers(0, 2**16))


@_examples(25)
@given(_reshape_chains())
def test_chains_of_reshapes(problem):
    shape, steps, keep, seed = problem
    x = _floats(shape, seed)

    def f(xp, x):
        outs = []
        for (kind, s), k in zip(steps, keep):
            x = xp.reshape(x, s) if kind == "reshape" else xp.transpose(x) if kind == "transpose" else -x
            if k:
                outs.append(x)
        return outs + [x]
    _check_every_way(f, x, exact=True)
    _check_grads(f, x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int8, np.uint8, np.bool_])
@pytest.mark.parametrize("red", ["sum", "prod", "max", "min", "mean"])
def test_reductions_over_no_axes(red, dtype):
    """axis=() reduces nothing, but the result has numpy's dtype (sum of int8 is int64, mean float)."""
    x = np.array([[0, 1, 2], [3, 0, 1]]).astype(dtype)
    if dtype == np.bool_ and red == "mean":
        return
    _check_every_way(lambda xp, x: getattr(xp, red)(x, axis=()), x, exact=red != "mean")
    _check_every_way(lambda xp, x: getattr(xp, red)(x, axis=(), keepdims=True), x, exact=red != "mean")
    if np.dtype(dtype) == np.float64:
        _check_grads(lambda xp, x: getattr(xp, red)(x, axis=()), x)


# ---------------------------------------------------------------------------------------------
# 1. simplify rules: known gather and scatter indices; CSE and constant folding

@pytest.mark.parametrize("idx", [np.array([0, -1, 2, -3]), np.array([[1], [-2]]), np.int64(-1),
                                 np.array([2, 2, 0], np.int32)])
def test_known_indices_in_range_work_under_jit_and_grad(idx):
    x = _floats((3, 4))
    f = lambda xp, x: xp.sin(x[idx]) * 2.0  # noqa: E731
    _check_every_way(f, x, exact=False, rtol=1e-15)
    _check_grads(f, x)   # the gradient is a scatter_add at the same known indices
    _check_every_way(lambda xp, x: xp.take(x, idx, axis=1), x, exact=True)


@pytest.mark.parametrize("idx", [np.array([0, 3]), np.array([-4, 0]), np.int64(3), np.array([[5]])])
def test_known_indices_out_of_range_raise_under_jit(idx):
    x = _floats((3, 4))
    with pytest.raises(IndexError):
        x[idx]  # numpy's answer
    for fn in (lambda x: x[idx], mg.jit(lambda x: x[idx]), mg.jit(lambda x: x[idx], backend="numpy"),
               mg.grad(lambda x: mnp.sum(x[idx])), mg.jit(mg.grad(lambda x: mnp.sum(x[idx])))):
        with pytest.raises(IndexError):
            fn(x)


def test_cse_keeps_apart_what_differs_only_in_a_sign_of_zero_a_dtype_or_a_parameter():
    x = np.array([1.5, -2.0, 0.0, -0.0])

    def f(xp, x):
        return (x * 0.0, x * -0.0, x + 0.0, x + -0.0,
                x.astype(np.float32).astype(np.float64), x.astype(np.float16).astype(np.float64),
                xp.transpose(xp.reshape(x, (2, 2))), xp.transpose(xp.reshape(x, (2, 2)), (0, 1)),
                xp.sum(xp.reshape(x, (2, 2)), axis=0), xp.sum(xp.reshape(x, (2, 2)), axis=1),
                x ** 2, x ** 3, x * 2, x * 2.0, (x > 0) * 1, (x > 0) * 1.0, x * True)
    _check_every_way(f, x + np.array([0.1, 0.2, 0.3, 0.4]) * 0, exact=True)
    _check_every_way(f, x * 1.0000001, exact=True)


def test_constant_folding_matches_numpy():
    c = np.array([0.5, -0.0, 2.0, -3.0])

    def f(xp, x):
        k = xp.asarray(c)
        return (x + xp.exp(k) * -(-k), x * (k - k), x + (k * 0.0), xp.where(k > 0, x, k + 0.0),
                xp.sum(xp.sqrt(xp.abs(k))) * x, -(k + 0.0) + x)
    _check_every_way(f, _floats(4), rtol=1e-15)
    _check_grads(f, _floats(4))


# ---------------------------------------------------------------------------------------------
# 2. DCE of the outputs of a jit call that the caller does not use

def _many(xp, x, y):
    """Seven outputs sharing computation (s), computing the same thing twice (s * y), and passing inputs
    through (x, y)."""
    s = xp.sin(x)
    return s * y, x, s + xp.exp(y), xp.sum(s ** 2) * xp.ones_like(x), y, s * y, s


@_examples(10)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=4), st.sampled_from(["xla", "numpy"]),
       st.integers(0, 2**16))
def test_partly_used_call_outputs(used, backend, seed):
    """Only the outputs `used` (in any order, maybe repeated) of a jitted function are read, inside another
    jit, under grad, under vmap, under jvp, and through a second jitted function: the results and gradients
    are the fully used function's, and JAX's."""
    x, y = _floats(3, seed), _floats(3, seed + 1)
    many = mg.jit(lambda x, y: _many(mnp, x, y), backend=backend)
    ws = [_floats(3, seed + 2 + i) for i in range(len(used))]

    def pick(outs):
        return tuple(outs[i] for i in used)

    def loss(xp, outs):
        return sum(xp.sum(w * o) for w, o in zip(ws, pick(outs)))
    full = _many(mnp, x, y)                                        # every output computed, eagerly
    jx, jy = jnp.asarray(x), jnp.asarray(y)
    # inside another jit (XLA and numpy), and through a second jitted function that passes some on
    middle = mg.jit(lambda x, y: pick(many(x, y)) + (many(y, x)[2],), backend=backend)
    for got in (mg.jit(lambda x, y: pick(many(x, y)))(x, y),
                mg.jit(lambda x, y: pick(many(x, y)), backend="numpy")(x, y),
                mg.jit(lambda x, y: middle(x, y)[:-1])(x, y)):
        for a, b in zip(got, pick(full)):
            _assert_same(a, b, "jit of a partly used call")
    # gradients: each unused output gets no cotangent
    want = jax.jit(jax.grad(lambda x, y: loss(jnp, _many(jnp, x, y)), argnums=(0, 1)))(jx, jy)
    g = lambda x, y: loss(mnp, many(x, y))  # noqa: E731
    g_full = mg.grad(lambda x, y: loss(mnp, _many(mnp, x, y)), argnums=(0, 1))(x, y)
    for way, got in (("grad", mg.grad(g, argnums=(0, 1))(x, y)),
                     ("jit(grad)", mg.jit(mg.grad(g, argnums=(0, 1)))(x, y)),
                     ("grad(jit)", mg.grad(mg.jit(g), argnums=(0, 1))(x, y))):
        for i in range(2):
            _assert_same(got[i], np.asarray(want[i]), f"{way}, d/d argument {i}")
            _assert_same(got[i], g_full[i], f"{way} vs the fully used function, d/d argument {i}")
    # vmap, and vmap of grad
    xb, yb = _floats((2, 3), seed + 7), _floats((2, 3), seed + 8)
    got = mg.vmap(lambda x, y: pick(many(x, y)))(xb, yb)
    want = jax.vmap(lambda x, y: pick(_many(jnp, x, y)))(xb, yb)
    for a, b in zip(got, want):
        _assert_same(a, np.asarray(b), "vmap of a partly used call")
    got = mg.jit(mg.vmap(mg.grad(g, argnums=(0, 1))))(xb, yb)
    want = jax.vmap(jax.grad(lambda x, y: loss(jnp, _many(jnp, x, y)), argnums=(0, 1)))(xb, yb)
    for a, b in zip(got, want):
        _assert_same(a, np.asarray(b), "jit(vmap(grad)) of a partly used call")
    # jvp: the tangents of the used outputs
    tx, ty = _floats(3, seed + 9), _floats(3, seed + 10)
    _, got = mg.jvp(lambda x, y: pick(many(x, y)), (x, y), (tx, ty))
    _, want = jax.jvp(lambda x, y: pick(_many(jnp, x, y)), (jx, jy), (jnp.asarray(tx), jnp.asarray(ty)))
    for a, b in zip(got, want):
        _assert_same(a, np.asarray(b), "jvp of a partly used call")


@pytest.mark.parametrize("backend", ["xla", "numpy"])
def test_call_with_no_used_output_and_nested_partly_used_calls(backend):
    inner = mg.jit(lambda x: (mnp.exp(x), x * 2.0, mnp.log1p(x * x)), backend=backend)
    middle = mg.jit(lambda x: (inner(x)[2], inner(x + 1.0)[0], inner(x)[1]), backend=backend)

    def f(x):
        inner(x)                       # nothing used: the whole call is dead
        a, _, c = middle(x)            # the middle output unused, its inner call partly used
        return a * c

    x = _floats(4)
    want = np.log1p(x * x) * (x * 2.0)
    _assert_same(mg.jit(f)(x), want, "jit")
    _assert_same(mg.jit(f, backend="numpy")(x), want, "jit numpy")
    jwant = jax.grad(lambda x: jnp.sum(jnp.log1p(x * x) * (x * 2.0) * jnp.arange(4.0)))(x)
    for fn in (mg.grad(lambda x: mnp.sum(f(x) * mnp.arange(4.0))),
               mg.jit(mg.grad(lambda x: mnp.sum(f(x) * mnp.arange(4.0))))):
        _assert_same(fn(x), np.asarray(jwant), "grad")
    closed = mg.make_jaxpr(f)(x)
    assert len(closed.jaxpr.eqns) <= 2   # the dead call is gone
    _assert_same(mg.eval_jaxpr(closed.jaxpr, closed.consts, [x])[0], want, "eval_jaxpr")


# ---------------------------------------------------------------------------------------------
# 3. jit's VJP cache: one backward program per (wanted inputs, outputs with a cotangent)

def _two(xp, x, y):
    return xp.sin(x) * y, x * xp.exp(y)


def _two_grads(x, y, w0, w1, argnums):
    """d/d(x, y) of sum(w0 * sin(x) * y) + sum(w1 * x * exp(y)), by hand (w = None: that output unused);
    test_two_grads_by_hand_are_jaxs checks the formulas."""
    gx = np.zeros_like(x) + (0 if w0 is None else w0 * np.cos(x) * y) + (0 if w1 is None else w1 * np.exp(y))
    gy = np.zeros_like(y) + (0 if w0 is None else w0 * np.sin(x)) + (0 if w1 is None else w1 * x * np.exp(y))
    return (gx, gy)[argnums] if isinstance(argnums, int) else tuple((gx, gy)[i] for i in argnums)


def test_two_grads_by_hand_are_jaxs():
    x, y, w0, w1 = (_floats(3, s) for s in range(4))
    for u0, u1 in ((w0, None), (None, w1), (w0, w1)):
        def loss(x, y):
            o0, o1 = _two(jnp, x, y)
            return (0.0 if u0 is None else jnp.sum(u0 * o0)) + (0.0 if u1 is None else jnp.sum(u1 * o1))
        want = jax.grad(loss, argnums=(0, 1))(x, y)
        for a, b in zip(_two_grads(x, y, u0, u1, (0, 1)), want):
            np.testing.assert_allclose(a, np.asarray(b), rtol=1e-14)


_ARGNUMS = [0, 1, (0, 1), (1, 0)]
_PATTERNS = [(True, False), (False, True), (True, True)]


@_examples(20)
@given(st.lists(st.tuples(st.sampled_from(_ARGNUMS), st.sampled_from(_PATTERNS), st.sampled_from(["grad", "jvp"])),
                min_size=2, max_size=7),
       st.sampled_from(["xla", "numpy"]), st.integers(0, 2**16))
def test_one_jitted_function_under_many_gradients(calls, backend, seed):
    """The same jitted function differentiated for argnums 0, 1, (0, 1), (1, 0) in any order and with
    each output used or not (so with and without its cotangent), and its JVP for tangents of x, y or both
    in between: each call's numbers are its own (no cached backward program of another pattern)."""
    f = mg.jit(lambda x, y: _two(mnp, x, y), backend=backend)
    x, y, w0, w1 = (_floats(3, seed + s) for s in range(4))
    for argnums, (use0, use1), kind in calls:
        u0, u1 = (w0 if use0 else None), (w1 if use1 else None)
        if kind == "jvp":  # tangents for x (use0), y (use1) or both
            tx, ty = (_floats(3, seed + 5) * use0), (_floats(3, seed + 6) * use1)
            _, got = mg.jvp(f, (x, y), (tx, ty))
            want = (np.cos(x) * y * tx + np.sin(x) * ty, np.exp(y) * tx + x * np.exp(y) * ty)
            for a, b in zip(got, want):
                np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
            continue

        def loss(x, y, u0=u0, u1=u1):
            o0, o1 = f(x, y)
            return (0.0 if u0 is None else mnp.sum(u0 * o0)) + (0.0 if u1 is None else mnp.sum(u1 * o1))
        got = mg.grad(loss, argnums=argnums)(x, y)
        want = _two_grads(x, y, u0, u1, argnums)
        for a, b in zip(_leaves(got), _leaves(want)):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15,
                                       err_msg=f"argnums={argnums}, outputs used {(use0, use1)}")


@pytest.mark.parametrize("backend", ["xla", "numpy"])
def test_vjp_of_a_jitted_function_with_every_cotangent_pattern(backend):
    f = mg.jit(lambda x, y: _two(mnp, x, y), backend=backend)
    x, y, c0, c1 = (_floats(3, s) for s in range(4))
    for cts in ((c0, c1), (c0, np.zeros(3)), (np.zeros(3), c1), (c1, c0), (c0, c1)):
        out, vjp_fn = mg.vjp(f, x, y)
        jout, jvjp = jax.vjp(lambda x, y: _two(jnp, x, y), x, y)
        for a, b in zip(out, jout):
            _assert_same(a, np.asarray(b), "vjp's outputs")
        for a, b in zip(vjp_fn(cts), jvjp(tuple(jnp.asarray(c) for c in cts))):
            _assert_same(a, np.asarray(b), "vjp's cotangents", rtol=1e-13)


@pytest.mark.parametrize("backend", ["xla", "numpy"])
def test_jitted_closure_over_a_tracer_is_not_reused_with_stale_values(backend):
    """A jitted function that closes over a value of an enclosing grad: each grad call has its own value
    (no cached forward or backward program holds the last call's). (Not grad(loss, argnums=1) here: there
    c is concrete, a constant of a trace that is then cached and reused even once c is a tracer, in JAX
    0.10 as here: its gradient with respect to c is then 0 in both.)"""
    cell = {}
    f = mg.jit(lambda x: mnp.sum(mnp.sin(x) * cell["c"]) + mnp.sum(cell["c"] ** 2), backend=backend)

    def loss(c, x):
        cell["c"] = c
        return f(x) * 3.0

    x = _floats(3)
    for k, c in enumerate((_floats(3, 1), _floats(3, 2), _floats(3, 1) * 0.5, _floats(3, 3))):
        gc, gx = mg.grad(loss, argnums=(0, 1))(c, x)
        np.testing.assert_allclose(gc, 3.0 * (np.sin(x) + 2 * c), rtol=1e-14, err_msg=f"call {k}")
        np.testing.assert_allclose(gx, 3.0 * np.cos(x) * c, rtol=1e-14, err_msg=f"call {k}")
        gc = mg.grad(loss, argnums=0)(c, x)
        np.testing.assert_allclose(gc, 3.0 * (np.sin(x) + 2 * c), rtol=1e-14, err_msg=f"call {k}, argnums=0")
        value, gc = mg.value_and_grad(loss)(c, x)
        np.testing.assert_allclose(value, 3.0 * (np.sum(np.sin(x) * c) + np.sum(c ** 2)), rtol=1e-14)
        np.testing.assert_allclose(gc, 3.0 * (np.sin(x) + 2 * c), rtol=1e-14)
        # jit(grad) with the closed-over value an argument of the outer jit: the same numbers
        gc, gx = mg.jit(mg.grad(loss, argnums=(0, 1)), backend=backend)(c, x)
        np.testing.assert_allclose(gx, 3.0 * np.cos(x) * c, rtol=1e-14, err_msg=f"call {k}, jit(grad)")
        # a plain call in between, closing over a concrete value: that value
        cell["c"] = c + 1.0
        np.testing.assert_allclose(f(x), np.sum(np.sin(x) * (c + 1.0)) + np.sum((c + 1.0) ** 2), rtol=1e-14)
        f.clear_cache()   # (a concrete closed-over value is a constant of the cached trace, as in JAX)


def test_closed_over_constant_is_a_constant_of_the_trace_as_in_jax():
    """Rebinding a concrete value a jitted function closes over does not retrace, in JAX as here: the
    gradient is then consistent with the (stale) forward value, in both."""
    x = _floats(3)
    ours, theirs = {"c": np.full(3, 2.0)}, {"c": np.full(3, 2.0)}
    f = mg.jit(lambda x: mnp.sum(mnp.sin(x) * ours["c"]))
    jf = jax.jit(lambda x: jnp.sum(jnp.sin(x) * theirs["c"]))
    for c in (np.full(3, 2.0), np.full(3, 5.0)):
        ours["c"], theirs["c"] = c, c
        _assert_same(f(x), np.asarray(jf(x)), "value")
        _assert_same(mg.grad(f)(x), np.asarray(jax.grad(jf)(x)), "grad(jit)")
        _assert_same(mg.jit(mg.grad(f))(x), np.asarray(jax.jit(jax.grad(jf))(x)), "jit(grad(jit))")


@pytest.mark.parametrize("backend", ["xla", "numpy"])
def test_jit_of_grad_and_grad_of_jit_agree_with_jax(backend):
    def f(xp, x, y):
        o0, o1 = _two(xp, x, y)
        return xp.sum(o0 * o1) + xp.sum(xp.tanh(o1))
    x, y = _floats(4), _floats(4, 1)
    for argnums in (0, 1, (0, 1)):
        want = jax.grad(lambda x, y: f(jnp, x, y), argnums=argnums)(x, y)
        g = lambda x, y: f(mnp, x, y)  # noqa: E731
        for fn in (mg.jit(mg.grad(g, argnums=argnums), backend=backend),
                   mg.grad(mg.jit(g, backend=backend), argnums=argnums),
                   mg.jit(mg.grad(mg.jit(g, backend=backend), argnums=argnums), backend=backend)):
            for a, b in zip(_leaves(fn(x, y)), _leaves(want)):
                _assert_same(a, np.asarray(b), f"argnums={argnums}", rtol=1e-13)


# ---------------------------------------------------------------------------------------------
# 4. seeding: repeated outputs, outputs that are inputs, repeated pytree leaves

_LEAF_KINDS = {
    "x": lambda xp, x, z, y: x,                  # an input, returned as it is
    "z": lambda xp, x, z, y: z,
    "y": lambda xp, x, z, y: y,                  # the same value at several places
    "y*1": lambda xp, x, z, y: y * 1.0,          # simplified to y: the same variable again
    "x+-0": lambda xp, x, z, y: x + -0.0,        # simplified to x
    "--z": lambda xp, x, z, y: -(-z),            # simplified to z
    "xz": lambda xp, x, z, y: x * z,
}


def _seeding_fn(kinds, container):
    def f(xp, x, z):
        y = xp.sin(x) * z
        leaves = [_LEAF_KINDS[k](xp, x, z, y) for k in kinds]
        if container == "tuple":
            return tuple(leaves)
        if container == "dict":
            return {"a": leaves[0], "b": [leaves[0]] + leaves[1:], "c": (leaves[-1], leaves[0])}
        return leaves[0] if len(leaves) == 1 else (leaves[0], [leaves[1:]])
    return f


@_examples(15)
@given(st.lists(st.sampled_from(sorted(_LEAF_KINDS)), min_size=1, max_size=5),
       st.sampled_from(["tuple", "dict", "nested"]), st.sampled_from(["eager", "jit", "jit-numpy"]),
       st.integers(0, 2**16))
def test_seeding_of_repeated_outputs_and_inputs_returned(kinds, container, how, seed):
    """vjp with a different cotangent per output leaf (several leaves the same value, or an input), grad of
    their weighted sum, jacrev and jacfwd: all JAX's."""
    f = _seeding_fn(kinds, container)
    x, z = _floats(3, seed), _floats(3, seed + 1)
    g = lambda x, z: f(mnp, x, z)  # noqa: E731
    g = {"eager": g, "jit": mg.jit(g), "jit-numpy": mg.jit(g, backend="numpy")}[how]
    jg = lambda x, z: f(jnp, x, z)  # noqa: E731
    out, vjp_fn = mg.vjp(g, x, z)
    out_tree = jax.tree_util.tree_structure(jg(x, z))
    rng = np.random.default_rng(seed)
    cts = jax.tree_util.tree_unflatten(out_tree, [rng.standard_normal(3) for _ in range(out_tree.num_leaves)])
    want_out, want_ct = jax.jit(lambda x, z, c: (jg(x, z), jax.vjp(jg, x, z)[1](c)))(x, z, cts)
    for a, b in zip(_leaves(out), _leaves(want_out)):
        _assert_same(a, np.asarray(b), "vjp's outputs")
    got_ct = vjp_fn(cts)
    for a, b in zip(got_ct, want_ct):
        _assert_same(a, np.asarray(b), "vjp's cotangents", rtol=1e-13)
    # grad of the weighted sum (the cotangents as weights), eagerly and under jit
    ws = _leaves(cts)

    def loss(leaves_of, x, z, xp):
        return sum(xp.sum(w * o) for w, o in zip(ws, leaves_of(x, z)))
    for fn in (mg.grad(lambda x, z: loss(lambda *a: _leaves(g(*a)), x, z, mnp), argnums=(0, 1)),
               mg.jit(mg.grad(lambda x, z: loss(lambda *a: _leaves(g(*a)), x, z, mnp), argnums=(0, 1)))):
        for a, b in zip(fn(x, z), want_ct):
            _assert_same(a, np.asarray(b), "grad of the weighted sum", rtol=1e-13)
    # Jacobians, of a pytree of outputs
    for ours, theirs in ((mg.jacrev, jax.jacrev), (mg.jacfwd, jax.jacfwd)):
        got = ours(g, argnums=(0, 1))(x, z)
        want = jax.jit(theirs(jg, argnums=(0, 1)))(x, z)
        assert jax.tree_util.tree_structure(got) == jax.tree_util.tree_structure(want), ours.__name__
        for a, b in zip(_leaves(got), _leaves(want)):
            _assert_same(a, np.asarray(b), ours.__name__, rtol=1e-13)


@pytest.mark.parametrize("wrap", ["eager", "jit", "jit-numpy"])
def test_identity_and_duplicate_outputs_seed_their_cotangents(wrap):
    """The smallest cases: f(x) = x, f(x) = (x, x), f(x) = (y, y): the cotangents add up."""
    w = {"eager": lambda f: f, "jit": mg.jit, "jit-numpy": lambda f: mg.jit(f, backend="numpy")}[wrap]
    x, c1, c2 = _floats(3), _floats(3, 1), _floats(3, 2)
    _, vjp_fn = mg.vjp(w(lambda x: x), x)
    _assert_same(vjp_fn(c1)[0], c1, "identity", exact=True)
    _, vjp_fn = mg.vjp(w(lambda x: (x, x)), x)
    _assert_same(vjp_fn((c1, c2))[0], c1 + c2, "(x, x)", exact=True)
    _, vjp_fn = mg.vjp(w(lambda x: (mnp.exp(x),) * 3), x)
    _assert_same(vjp_fn((c1, c2, c1))[0], np.exp(x) * (c1 + c2 + c1), "(y, y, y)", rtol=1e-14)
    _assert_same(mg.grad(w(lambda x: mnp.sum(x)))(x), np.ones(3), "grad of sum", exact=True)
    _assert_same(mg.jacrev(w(lambda x: (x, x)))(x)[1], np.eye(3), "jacrev", exact=True)
    _assert_same(mg.jacfwd(w(lambda x: {"a": x, "b": x}))(x)["b"], np.eye(3), "jacfwd", exact=True)


# ---------------------------------------------------------------------------------------------
# 5. lowering: every elementwise function on integer and bool operands, under jit, against numpy

_INT_DTYPES = [np.int8, np.int32, np.int64, np.uint8, np.bool_]
_BINARY = ["add", "subtract", "multiply", "divide", "true_divide", "floor_divide", "remainder", "mod",
           "power", "maximum", "minimum", "equal", "not_equal", "less", "less_equal", "greater",
           "greater_equal", "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or",
           "bitwise_xor", "logaddexp", "logaddexp2"]
_UNARY = ["negative", "positive", "absolute", "abs", "sign", "square", "reciprocal", "floor", "ceil", "rint",
          "round", "around", "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "sqrt",
          "logical_not", "invert", "bitwise_not", "isfinite", "isnan"]


def _interesting(dtype):
    """Extremes, zeros, small values of both signs: wrap-around, division by zero, exact ties of // and %."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return np.array([True, False, True, False, False, True])
    info = np.iinfo(dtype)
    vals = [info.min, info.max, 0, 1, 2, 3, 7, 100, info.max - 1, info.min + 1] + \
        ([-1, -2, -3, -7, -100] if info.min < 0 else [0, 255 // 2, 0])
    return np.array(vals, dtype=dtype)


def _int_operands(data, dtype, n):
    base = _interesting(dtype)
    rnd = data.draw(st.lists(st.integers(int(np.iinfo(dtype).min) if dtype != np.bool_ else 0,
                                         int(np.iinfo(dtype).max) if dtype != np.bool_ else 1),
                             min_size=n - len(base), max_size=n - len(base)))
    vals = np.concatenate([base, np.array(rnd, dtype=base.dtype)])
    return vals[np.array(data.draw(st.permutations(range(n))))]


def _float_tol(dtype):
    """One result of a float function of an integer: float16 results (of int8, uint8, bool operands) are
    compared to 4 units in the last place (XLA computes float16 in float32 and rounds once at the end of a
    fused chain; numpy rounds each step of logaddexp's composite); float64 to 1e-13 (libm vs XLA's
    own polynomials)."""
    return {np.dtype(np.float16): 4 * 2.0 ** -10, np.dtype(np.float32): 4 * 2.0 ** -23}.get(np.dtype(dtype), 1e-13)


def _compare_elementwise(name, got, want, way):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"{name} ({way}): dtype {got.dtype}, numpy's {want.dtype}"
    if want.dtype.kind == "f":
        tol = _float_tol(want.dtype)  # also absolute: logaddexp2(-1, -1) is -1 + 1 (XLA: a division by ln 2
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True,  # as a multiplication)
                                   err_msg=f"{name} ({way})")
    else:
        np.testing.assert_array_equal(got, want, err_msg=f"{name} ({way})")


def _numpy_or_error(fn, *args):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn(*args), None
        except (TypeError, ValueError) as e:
            return None, e


_EXTRA_REFS = {"round": np.round,
               "where": lambda a, b: np.where(a, a, b), "clip": lambda a, b: np.clip(a, b, 5)}


def _check_elementwise(names, fns, args):
    """Each function on `args` eagerly and under jit (XLA, numpy) against numpy; where numpy refuses the
    operands (bool - bool, negative of bool, integers to negative powers) the function must refuse too;
    functions that are documented as unsupported on these operands (integer bit operations) raise an
    UnsupportedError and are left out."""
    ok, want = [], {}
    for name in names:
        ref, err = _numpy_or_error(_EXTRA_REFS.get(name) or getattr(np, name), *args)
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got = fns[name](*args)
        except mg.UnsupportedError:
            assert name.startswith(("bitwise", "invert")), f"{name} unsupported on {[a.dtype for a in args]}"
            continue
        except Exception as e:  # noqa: BLE001
            assert err is not None, f"{name} raised {type(e).__name__}: {e}; numpy gives {ref}"
            continue
        assert err is None, f"{name}: numpy raises {err!r}, here {got}"
        _compare_elementwise(name, got, ref, "eager")
        ok.append(name)
        want[name] = ref
    for backend in ("xla", "numpy"):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = mg.jit(lambda *a: {n: fns[n](*a) for n in ok}, backend=backend)(*args)
        for name in ok:
            _compare_elementwise(name, got[name], want[name], f"jit {backend}")
    skipped = set(names) - set(ok)
    # left out: integer bit operations (unsupported), and what numpy refuses on bools (bool - bool, -bool)
    assert skipped <= {"bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "invert", "subtract",
                       "negative", "positive", "sign"}, skipped


_MNP_BINARY = {n: getattr(mnp, n) for n in _BINARY}
_MNP_BINARY.update(where=lambda a, b: mnp.where(a, a, b), clip=lambda a, b: mnp.clip(a, b, 5))
_BINARY += ["where", "clip"]
_MNP_UNARY = {n: getattr(mnp, n) for n in _UNARY}


@_examples(8)
@given(st.sampled_from(_INT_DTYPES), st.sampled_from(_INT_DTYPES), st.data())
def test_binary_elementwise_on_integers_and_bools(dt1, dt2, data):
    """Every binary elementwise function of minigrad_fn.numpy on integer and bool operands (the same
    dtype or mixed), with wrap-around, negative operands of // and %, and division by zero (// and % by
    zero are 0 in numpy, / by zero inf or nan)."""
    a = _int_operands(data, dt1, 16)
    b = _int_operands(data, dt2, 16)
    names = [n for n in _BINARY if n != "power"]
    _check_elementwise(names, _MNP_BINARY, (a, b))
    # power: non-negative exponents (negative integer exponents: test_integer_negative_powers)
    if np.dtype(dt2).kind == "i":
        b = np.where(b < 0, -(b + 1), b).astype(dt2)
    _check_elementwise(["power"], _MNP_BINARY, (a, b))


@pytest.mark.parametrize("dtype", _INT_DTYPES)
def test_same_dtype_binary_elementwise_on_integers_and_bools(dtype):
    """Every pair of the interesting values (min, max, 0, +-1, ...) of one dtype."""
    v = _interesting(dtype)
    a, b = np.repeat(v, len(v)), np.tile(v, len(v))
    _check_elementwise([n for n in _BINARY if n != "power"], _MNP_BINARY, (a, b))
    if np.dtype(dtype).kind == "i":
        b = np.where(b < 0, -(b + 1), b).astype(dtype)
    _check_elementwise(["power"], _MNP_BINARY, (a, b))


@pytest.mark.parametrize("dtype", _INT_DTYPES)
def test_unary_elementwise_on_integers_and_bools(dtype):
    """Every unary elementwise function: integer results exact (abs and negative of the minimum wrap, as in
    numpy), float results (float16 for int8, uint8 and bool, as numpy) within _float_tol."""
    v = _interesting(dtype)
    if np.dtype(dtype) == np.int64:  # sin, cos, tan of +-2**63 are range reduction tests of libm, not ours
        v = np.concatenate([v[2:], np.array([-(2**40), 2**40 + 1], np.int64)])
    _check_elementwise([n for n in _UNARY if n != "reciprocal"], _MNP_UNARY, (v,))
    _check_elementwise(["reciprocal"], _MNP_UNARY, (v[v != 0],))
    # reciprocal of 0 is 0 in all three executors (README, Known limits; numpy's is a platform value:
    # INT_MIN for int32 and int64)
    if np.dtype(dtype) != np.bool_:
        zero = np.zeros(3, dtype)
        for fn in (mnp.reciprocal, mg.jit(mnp.reciprocal), mg.jit(mnp.reciprocal, backend="numpy")):
            _assert_same(fn(zero), zero, "reciprocal(0)", exact=True)


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64])
def test_integer_negative_powers(dtype):
    """numpy raises; so do eager code and backend="numpy"; XLA cannot raise and gives the truncated value
    (README, Known limits: 2 ** -1 is 0, (-1) ** -3 is -1)."""
    a, b = np.array([2, -1, -1, 1, 3], dtype), np.array([-1, -3, -2, -5, -2], dtype)
    with pytest.raises(ValueError):
        np.power(a, b)
    # (numpy's ValueError, wrapped in an OpError naming the operation, for traced or array exponents;
    # a Python-int exponent is refused with numpy's ValueError itself)
    with pytest.raises((ValueError, mg.OpError)):
        mnp.power(a, b)
    with pytest.raises((ValueError, mg.OpError)):
        mg.jit(mnp.power, backend="numpy")(a, b)
    with pytest.raises(ValueError):
        mnp.power(a, -1)
    _assert_same(mg.jit(mnp.power)(a, b), np.array([0, -1, 1, 1, 0], dtype), "XLA's truncated power")


def test_division_by_zero_and_negative_operands_of_float_floor_divide_and_remainder():
    """// and % of floats: exact (README: XLA's reciprocal liberty does not touch them), numpy's signs,
    inf and nan for a zero divisor."""
    v = np.array([7.0, -7.0, 0.0, -0.0, 1.5, -1.5, np.inf, -np.inf, 3.0, -3.0, 0.5, 1e300, -1e-300])
    a, b = np.repeat(v, len(v)), np.tile(v, len(v))
    for dtype in (np.float64, np.float32, np.float16):
        with np.errstate(over="ignore"):  # 1e300 is inf in float16 and float32
            x, y = a.astype(dtype), b.astype(dtype)
        _check_elementwise(["floor_divide", "remainder"], _MNP_BINARY, (x, y))
        with np.errstate(all="ignore"):
            want = (np.floor_divide(x, y), np.remainder(x, y), np.floor_divide(x, dtype(3)), np.remainder(x, dtype(3)))
        for backend in ("xla", "numpy"):   # the operators, and a literal divisor
            got = mg.jit(lambda x, y: (x // y, x % y, x // dtype(3), x % dtype(3)), backend=backend)(x, y)
            for g, w, what in zip(got, want, ("//", "%", "// 3", "% 3")):
                _assert_same(g, w, f"{what} {np.dtype(dtype)} {backend}", exact=True)


# round, rint, around at exact ties: half to even, for every decimals

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_round_at_exact_ties_is_half_to_even(dtype):
    ties = (np.arange(-10, 10) + 0.5).astype(dtype)                       # exact .5 ties
    big = np.array([2.0**52 + 1, -(2.0**52) - 1, 2.0**23 + 0.5, 4503599627370495.5, 0.49999999999999994,
                    -0.5, 0.5, -0.0, 1.5, 2.5], dtype)
    for x in (ties, big):
        want = np.round(x)
        for fn in (mnp.round, mnp.rint, mnp.around, mg.jit(mnp.round), mg.jit(mnp.rint),
                   mg.jit(mnp.round, backend="numpy")):
            _assert_same(fn(x), want, f"{fn}", exact=True)


def _ulps(got, want):
    got, want = np.asarray(got), np.asarray(want)
    return np.max(np.abs(got - want) / np.spacing(np.maximum(np.abs(want), np.finfo(want.dtype).tiny)),
                  initial=0)


def _near_ties(dtype, decimals, n=300):
    """x.5 * 10**-decimals (as near as the dtype holds them) and their neighbours on both sides."""
    base = ((np.arange(-n, n) + 0.5) / 10.0**decimals).astype(dtype)
    return np.concatenate([base, np.nextafter(base, dtype(np.inf)), np.nextafter(base, dtype(-np.inf)),
                           np.array([-0.0, 0.0], dtype)])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("decimals", [1, 2, 3, -1, -2, -3])
def test_round_with_decimals_at_ties(dtype, decimals):
    """numpy's algorithm (scale by 10**|decimals|, round half to even, scale back): eager and
    backend="numpy" are exactly numpy's, at the ties and their neighbours. XLA: for decimals > 0 within one
    unit in the last place (README's documented liberty: the division by 10**decimals done as a
    multiplication by its reciprocal, after the rounding); for decimals < 0 away from ties (at and next to
    them: test_round_to_negative_decimals_next_to_a_tie_under_xla)."""
    x = _near_ties(dtype, decimals)
    want = np.round(x, decimals)
    for fn in (lambda x: mnp.round(x, decimals), mg.jit(lambda x: mnp.around(x, decimals), backend="numpy")):
        _assert_same(fn(x), want, f"round(x, {decimals})", exact=True)
    got = np.asarray(mg.jit(lambda x: mnp.round(x, decimals))(x))
    assert got.dtype == want.dtype
    if decimals > 0:
        assert _ulps(got, want) <= 1, f"round(x, {decimals}) under XLA: {_ulps(got, want)} ulps from numpy"
        # the roundings themselves agree: got * 10**decimals is numpy's integer
        np.testing.assert_array_equal(np.round(got.astype(np.float64) * 10.0**decimals),
                                      np.round(want.astype(np.float64) * 10.0**decimals))
    else:
        away = (np.arange(-300, 300) + 0.25) * 10.0**-decimals
        x = away.astype(dtype)
        _assert_same(mg.jit(lambda x: mnp.round(x, decimals))(x), np.round(x, decimals),
                     f"round(x, {decimals}) under XLA", exact=True)


@pytest.mark.parametrize("x, decimals, want", [
    (np.float32(50.000004), -2, 100.0),                                # XLA: 0.0
    (np.nextafter(-29995.0, 0.0), -1, -29990.0),                       # XLA: -30000.0
    (np.float32(np.nextafter(np.float32(-2999500.0), np.float32(0))), -3, -2999000.0),
    (np.float32(-254500.0), -3, -254000.0),                            # an exact tie; XLA: -255000.0
])
def test_round_to_negative_decimals_next_to_a_tie_under_xla(x, decimals, want):
    x = np.array([x])
    assert np.round(x, decimals)[0] == want and mnp.round(x, decimals)[0] == want   # numpy's, and eager
    _assert_same(mg.jit(lambda x: mnp.round(x, decimals))(x), np.round(x, decimals), "XLA", exact=True)


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8])
@pytest.mark.parametrize("decimals", [0, 1, -1, -2])
def test_round_of_integers(dtype, decimals):
    """Integers: unchanged for decimals >= 0; to tens and hundreds half to even for negative decimals
    (125 -> 120, 135 -> 140), in the integer dtype."""
    x = np.array([0, 5, 15, 25, 125, 35, 99, 50, 115, 105], dtype)
    if np.dtype(dtype) != np.int8:
        x = np.concatenate([x, np.array([135, 150, 250], dtype)])
    if np.dtype(dtype).kind == "i":
        x = np.concatenate([x, -x[:6]])
    want = np.round(x, decimals)
    for fn in (lambda x: mnp.round(x, decimals), mg.jit(lambda x: mnp.round(x, decimals)),
               mg.jit(lambda x: mnp.round(x, decimals), backend="numpy")):
        _assert_same(fn(x), want, f"round(x, {decimals})", exact=True)


# ---------------------------------------------------------------------------------------------
# 6. float16 (and float32) reductions: numpy's dtypes, values within a stated bound, float16 gradients
#
# The bound. numpy sums float16 in float16 (pairwise), XLA in float16 in its own order (README: "float16
# ones accumulate in float16"), so neither is the exact sum and they differ from each other. Any order of
# n - 1 float additions, each rounded to unit roundoff u (2**-11 for float16, 2**-24 for float32), is
# within (n - 1) u sum|x_i| (to first order) of the exact sum; with the final rounding, each result here
# is checked against the exact float64 value to (n + 1) u sum|x_i| (mean: that / n; cumsum: per prefix).
# Products: (n + 1) u |prod|. max and min: exact. var: two passes (the mean, within d of the exact one,
# then the squared deviations from it, which sum to S + n d**2 for S the exact sum): ((n + 3) u (S + n d**2)
# + n d**2) / (n - ddof) + u var; std: the square root of var's bound (|sqrt a - sqrt b| <= sqrt |a - b|)
# plus u std. numpy itself is checked against the same bounds, so a
# bound too tight for a correct float16 sum fails on numpy's own numbers, not only ours.

_REDUCTIONS = ["sum", "mean", "prod", "max", "min", "var", "std", "cumsum"]
_U = {np.dtype(np.float16): 2.0 ** -11, np.dtype(np.float32): 2.0 ** -24}


def _reduce_bound(red, x64, axis, ddof, u):
    """(exact float64 result, allowed absolute error per element) for the reduction of x64."""
    ax = tuple(range(x64.ndim)) if axis is None else (axis,) if isinstance(axis, int) else axis
    n = int(np.prod([x64.shape[a] for a in ax], dtype=int)) if x64.ndim else 1
    absx = np.abs(x64)
    if red == "cumsum":
        flat = x64.reshape(-1) if axis is None else x64
        a = 0 if axis is None else axis
        k = np.arange(1, flat.shape[a] + 1).reshape([-1 if i == a else 1 for i in range(flat.ndim)])
        return np.cumsum(flat, axis=a), (k + 1) * u * np.cumsum(np.abs(flat), axis=a)
    if red in ("sum", "mean"):
        tol = (n + 1) * u * np.sum(absx, axis=ax)
        return (np.sum(x64, axis=ax), tol) if red == "sum" else (np.mean(x64, axis=ax), tol / n + u * np.abs(
            np.mean(x64, axis=ax)))
    if red == "prod":
        want = np.prod(x64, axis=ax)
        return want, (n + 1) * u * np.abs(want)
    if red in ("max", "min"):
        return getattr(np, red)(x64, axis=ax), np.zeros(())
    # var: the mean is off by at most d (the sum bound / n, and its rounding); the squared deviations from
    # it sum to S + n d**2 (S the exact sum of squared deviations), with the sum bound (n + 3) u on that
    var = np.var(x64, axis=ax, ddof=ddof)
    d = (n + 1) * u * np.sum(absx, axis=ax, keepdims=True) / n + u * np.abs(np.mean(x64, axis=ax, keepdims=True))
    d = np.squeeze(d, ax)
    big_s = np.sum((x64 - np.mean(x64, axis=ax, keepdims=True)) ** 2, axis=ax)
    tol = ((n + 3) * u * (big_s + n * d**2) + n * d**2) / max(n - ddof, 1) + u * var
    if red == "var":
        return var, tol
    return np.sqrt(var), np.sqrt(tol) + u * np.sqrt(var)


def _call_reduction(xp, red, x, axis, ddof):
    if red in ("var", "std"):
        return getattr(xp, red)(x, axis=axis, ddof=ddof)
    return getattr(xp, red)(x, axis=axis)


def _check_reduction(red, x, axis, ddof):
    dtype = x.dtype
    u = _U[dtype]
    x64 = x.astype(np.float64)
    exact, tol = _reduce_bound(red, x64, axis, ddof, u)
    tol = tol + np.finfo(dtype).smallest_subnormal
    ref = _call_reduction(np, red, x, axis, ddof)
    assert np.all(np.abs(ref.astype(np.float64) - exact) <= tol), "the bound is too tight for numpy itself"
    f = lambda x: _call_reduction(mnp, red, x, axis, ddof)  # noqa: E731
    for way, fn in (("eager", f), ("jit", mg.jit(f)), ("jit numpy", mg.jit(f, backend="numpy"))):
        got = np.asarray(fn(x))
        assert got.dtype == ref.dtype and got.shape == ref.shape, \
            f"{red} ({way}): {got.dtype}{got.shape}, numpy's {ref.dtype}{ref.shape}"
        err = np.abs(got.astype(np.float64) - exact)
        assert np.all(err <= tol), f"{red} ({way}): error {np.max(err)} beyond the bound {np.min(tol)}"
    return u, x64, exact


def _check_reduction_grad(red, x, axis, ddof, u, x64):
    """The gradient of sum(w * red(x)) in x's dtype: its dtype is x's (as jax.grad's), its values those of
    jax.grad in float64 within (n + 4) u times the gradient's scale."""
    out = _call_reduction(np, red, x, axis, ddof)
    w = np.random.default_rng(x.size).uniform(-1, 1, np.shape(out)).astype(x.dtype)
    loss = lambda xp: lambda x: xp.sum(_call_reduction(xp, red, x, axis, ddof) * w)  # noqa: E731
    ref = np.asarray(jax.jit(jax.grad(lambda x: jnp.sum(_call_reduction(jnp, red, x, axis, ddof)
                                                        * w.astype(np.float64))))(x64))
    scale = np.max(np.abs(ref), initial=0) + np.max(np.abs(w), initial=0) * (1 + np.max(np.abs(x64)))
    tol = (x.size + 4) * u * scale
    assert jax.grad(loss(jnp))(jnp.asarray(x)).dtype == x.dtype
    for way, g in (("grad", mg.grad(loss(mnp))), ("jit(grad)", mg.jit(mg.grad(loss(mnp)))),
                   ("jit(grad) numpy", mg.jit(mg.grad(loss(mnp)), backend="numpy"))):
        got = np.asarray(g(x))
        assert got.dtype == x.dtype and got.shape == x.shape, f"d {red} ({way}): {got.dtype}{got.shape}"
        err = np.abs(got.astype(np.float64) - ref)
        assert np.all(err <= tol), f"d {red} ({way}): error {np.max(err)} beyond {tol}"


@st.composite
def _reduction_problems(draw):
    red = draw(st.sampled_from(_REDUCTIONS))
    dtype = np.dtype(draw(st.sampled_from([np.float16, np.float16, np.float32])))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=1, max_size=3)))
    assume(int(np.prod(shape)) <= 40)
    if red == "cumsum":
        axis = draw(st.sampled_from([None] + list(range(len(shape)))))
    else:
        axis = draw(st.one_of(st.none(), st.integers(0, len(shape) - 1),
                              st.lists(st.integers(0, len(shape) - 1), min_size=1, unique=True).map(tuple)))
    ddof = draw(st.sampled_from([0, 1])) if red in ("var", "std") else 0
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if red == "prod":  # magnitudes near 1: no overflow or underflow of float16 in 40 factors
        x = rng.uniform(0.85, 1.15, shape) * rng.choice([-1.0, 1.0], shape)
    else:
        x = rng.uniform(-4, 4, shape) + draw(st.sampled_from([0.0, 0.0, 100.0]))  # maybe far from 0
        if red in ("max", "min") and draw(st.booleans()):
            x = np.round(x)  # ties: the gradient is split evenly between them, as in JAX
    return red, x.astype(dtype), axis, ddof


@_examples(24)
@given(_reduction_problems())
def test_low_precision_reductions(problem):
    red, x, axis, ddof = problem
    if red in ("var", "std"):
        ax = tuple(range(x.ndim)) if axis is None else (axis,) if isinstance(axis, int) else axis
        assume(int(np.prod([x.shape[a] for a in ax])) > ddof)
    u, x64, exact = _check_reduction(red, x, axis, ddof)
    if red == "std":  # the gradient of sqrt near 0 is not bounded by a relative tolerance
        assume(np.min(exact) > 0.1)
    _check_reduction_grad(red, x, axis, ddof, u, x64)


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("red", _REDUCTIONS)
def test_low_precision_reductions_of_a_long_axis(red, dtype):
    """A 4 x 64 array: over the long axis, the short one and all of it (max and min with ties)."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.9, 1.1, (4, 64)) if red == "prod" else rng.uniform(-4, 4, (4, 64)) + 10
    if red in ("max", "min"):
        x = np.round(x)  # ties
    x = x.astype(dtype)
    for axis in (1, 0) + ((None,) if red != "prod" else ()):
        u, x64, exact = _check_reduction(red, x, axis, 1 if red in ("var", "std") else 0)
    _check_reduction_grad(red, x, 1, 0, u, x.astype(np.float64))


def test_float16_sum_liberty_documented_in_the_readme():
    """README: jit's float16 sum of 10000 x 0.1 is 996.5, numpy's 1000: both inside the bound above."""
    x = np.full(10000, 0.1, np.float16)
    got, want = mg.jit(mnp.sum)(x), np.sum(x)
    assert got.dtype == want.dtype == np.float16
    exact = 10000 * float(np.float16(0.1))
    assert abs(float(got) - exact) <= 10001 * 2.0 ** -11 * exact and abs(float(want) - exact) < 1
    _assert_same(mnp.sum(x), want, "eager is numpy's", exact=True)
    _assert_same(mg.jit(mnp.sum, backend="numpy")(x), want, "jit numpy is numpy's", exact=True)


# =============================================================================================
# 7. Found by a mutmut run over the core (passes, ir, interpreter, autodiff, jit's cache): planted
#    changes that no test caught, each closed by a class of tests of what the code promises.
# =============================================================================================

# ---------------------------------------------------------------------------------------------
# 7a. jit's cache: static arguments as keys, negative static_argnums, lower() and call share entries

# Static values Python finds equal (1 == 1.0 == True == np.int32(1), -0.0 == 0.0, frozenset({1}) ==
# frozenset({1.0})) but that trace different programs; their reprs tell them apart.
_STATIC_VALUES = [1, 1.0, True, np.int32(1), np.float32(1), np.float64(1), 0.0, -0.0, 2.5, 1 + 0j,
                  (1,), (1.0,), (True,), ((1, 2.0),), (), frozenset(), frozenset({1}), frozenset({1.0}),
                  frozenset({True}), frozenset({2}), frozenset({1, 2}), frozenset({(1,)}), frozenset({(1.0,)}),
                  frozenset({frozenset({1})}), frozenset({frozenset({1.0})}), "a", None]


def _code(s) -> float:
    """A number that differs for static values of different reprs (types and values)."""
    return float(sum((i + 1) * ord(c) for i, c in enumerate(repr(s))))


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(0, len(_STATIC_VALUES) - 1), min_size=1, max_size=12), st.booleans())
def test_static_arguments_key_the_cache_by_type_and_value(picks, by_name):
    """Each call computes with its own static value (never a trace made for an equal-but-different one),
    and the cache counts one miss per distinct value, a hit for every repeat."""
    traced = []

    def f(x, s):
        traced.append(repr(s))
        return x + _code(s)

    jf = mg.jit(f, static_argnames="s") if by_name else mg.jit(f, static_argnums=1)
    x = np.arange(2.0)
    for k in picks:
        s = _STATIC_VALUES[k]
        out = jf(x, s=s) if by_name else jf(x, s)
        np.testing.assert_array_equal(np.asarray(out), x + _code(s), err_msg=repr(s))
    distinct = {repr(_STATIC_VALUES[k]) for k in picks}
    assert sorted(traced) == sorted(distinct)
    assert jf.cache_info() == JitCacheInfo(hits=len(picks) - len(distinct), misses=len(distinct),
                                              size=len(distinct))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_negative_static_argnums_name_the_same_argument_as_positive_ones(n):
    """static_argnums=k and k - n (k = 0 .. n-1) make the same argument static, however it is passed."""
    reducers = {"sum": np.sum, "max": np.max}

    def f(*args):
        (name,) = [a for a in args if isinstance(a, str)]
        return sum(getattr(mnp, name)(a) for a in args if not isinstance(a, str))

    for k in range(n):
        xs = [np.arange(3.0) + i for i in range(n)]
        for num in (k, k - n):
            jf = mg.jit(f, static_argnums=num)
            for name in ("sum", "max", "sum"):
                args = xs[:k] + [name] + xs[k + 1:]
                want = sum(reducers[name](a) for a in args if not isinstance(a, str))
                assert float(jf(*args)) == want, (n, k, num, name)
            assert jf.cache_info() == JitCacheInfo(hits=1, misses=2, size=2), (n, k, num)


@pytest.mark.parametrize("value", [[2, 3], {"a": 1}, {1, 2}, np.arange(2)], ids=["list", "dict", "set", "ndarray"])
@pytest.mark.parametrize("by_name", [False, True])
def test_unhashable_static_argument_error_names_the_function_argument_and_fix(value, by_name):
    def reshaper(x, shape):
        return x

    jf = mg.jit(reshaper, static_argnames="shape") if by_name else mg.jit(reshaper, static_argnums=1)
    with pytest.raises(mg.ArgumentError) as e:
        jf(np.ones(6), shape=value) if by_name else jf(np.ones(6), value)
    which = "'shape' (static_argnames)" if by_name else "#1 (static_argnums)"
    assert e.value.raw_message == (
        f"jit(reshaper): static argument {which} is a {type(value).__name__}, which is unhashable; "
        "static arguments are keys of the compilation cache")
    assert e.value.hint == (
        "Pass a hashable value (a tuple instead of a list, a frozenset instead of a set), or make it a regular "
        "traced argument by leaving it out of static_argnums/static_argnames.")
    assert jf.cache_info() == JitCacheInfo(0, 0, 0)


@settings(max_examples=10, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["call", "lower", "clear"]), st.integers(1, 3)), min_size=1, max_size=10),
       st.sampled_from(["xla", "numpy"]))
def test_lower_and_calls_share_one_cache_and_its_counts(ops, backend):
    """jit(f).lower(x) traces only a signature not seen yet (by a call or an earlier lower) and stores it
    for later calls; calls count hits and misses, lower counts misses; clear_cache starts from zero."""
    traced = []

    def f(x):
        traced.append(x.shape)
        return mnp.sin(x) * 2.0

    jf = mg.jit(f, backend=backend)
    seen, hits, misses, programs, traces = set(), 0, 0, {}, 0
    for op, n in ops:
        x = np.linspace(0.0, 1.0, n)
        if op == "clear":
            jf.clear_cache()
            seen, hits, misses, programs = set(), 0, 0, {}
            assert jf.cache_info() == JitCacheInfo(0, 0, 0)
            continue
        new = n not in seen
        misses += new
        traces += new
        if op == "call":
            hits += not new
            np.testing.assert_allclose(np.asarray(jf(x)), np.sin(x) * 2.0, rtol=1e-15)
        else:
            jaxpr = jf.lower(x).jaxpr
            assert programs.setdefault(n, jaxpr) is jaxpr, "lower traced a signature it had"
        seen.add(n)
        assert jf.cache_info() == JitCacheInfo(hits, misses, len(seen)), (op, n)
    assert len(traced) == traces


# ---------------------------------------------------------------------------------------------
# 7b. optimize() sees inside every documented form of nested program: a Jaxpr, a ClosedJaxpr (its
#     constants kept), a tuple or a list of them (ir.subjaxprs), in any primitive's params

_Pair = __import__("collections").namedtuple("_Pair", "a b")


def _nested_programs(form):
    """Programs of x with redundant work (x * 1, a repeated sin) in the given form, and their reference."""
    import tracing
    c = np.array([0.5, -2.0, 3.0])
    # a reshaped and a broadcast literal: small arrays of constants, which a nested program keeps as
    # equations (it has no constants of its own to fold them into)
    plain = lambda x: (mnp.sin(x * 1.0) + mnp.sin(x * 1.0)) * 3.0 + mnp.broadcast_to(1.0, (1,))  # noqa: E731
    closing = lambda x: (mnp.cos(x + 0.0) + mnp.cos(x + 0.0)) * c - mnp.reshape(2.0, (1, 1))  # noqa: E731
    refs = [lambda x: 2 * np.sin(x) * 3.0 + 1.0, lambda x: 2 * np.cos(x) * c - np.full((1, 1), 2.0)]
    x = np.linspace(-1.0, 1.0, 3)
    made = [tracing.make_jaxpr(f, optimize=False)(x) for f in (plain, closing)]
    if form == "Jaxpr":
        return made[0].jaxpr, refs[:1]
    if form == "ClosedJaxpr":
        return made[1], refs[1:]
    bodies = [made[0].jaxpr, made[1]] if form == "mixed" else made
    return (tuple if form != "list" else list)(bodies), refs


@pytest.mark.parametrize("form", ["Jaxpr", "ClosedJaxpr", "tuple", "list", "mixed"])
def test_optimize_simplifies_nested_programs_in_every_form(form):
    import tracing
    programs, refs = _nested_programs(form)

    def flat(p):
        return [p] if isinstance(p, (tracing.Jaxpr, tracing.ClosedJaxpr)) else list(p)

    def run(p, args):
        if isinstance(p, tracing.ClosedJaxpr):
            return tracing.eval_jaxpr(p.jaxpr, p.consts, args)
        return tracing.eval_jaxpr(p, [], args)

    apply_all = tracing.Primitive(
        "apply_all", lambda *avals, programs, **other: [a for p in flat(programs) for a in p.out_avals],
        lambda *args, programs, **other: [o for p in flat(programs) for o in run(p, args)], multiple_results=True)
    # params beside the programs, of every kind, are left as they are
    other = dict(n=3, none=None, empty=(), axes=(0, 1), pair=_Pair(1, 2.0), dtype=np.dtype("float32"), name="s")
    x = np.linspace(-1.0, 1.0, 3)
    outer = tracing.make_jaxpr(lambda x: apply_all.bind(x, programs=programs, **other), optimize=False)(x)
    opt = tracing.optimize(outer)
    (eqn,) = [e for e in opt.jaxpr.eqns if e.prim is apply_all]
    for k, v in other.items():
        assert type(eqn.params[k]) is type(v) and eqn.params[k] == v, k
    new = eqn.params["programs"]
    assert type(new) is type(programs)
    for before, after in zip(flat(programs), flat(new)):
        assert type(after) is type(before)
        b = before.jaxpr if isinstance(before, tracing.ClosedJaxpr) else before
        a = after.jaxpr if isinstance(after, tracing.ClosedJaxpr) else after
        assert len(a.eqns) < len(b.eqns), f"not optimised:\n{a}"
        if isinstance(before, tracing.ClosedJaxpr):
            assert len(after.consts) == len(before.consts)
            assert all(p is q for p, q in zip(after.consts, before.consts))
    got = tracing.eval_jaxpr(opt.jaxpr, opt.consts, [x])
    assert len(got) == len(refs)
    for g, ref in zip(got, refs):
        _assert_same(g, ref(x), form, rtol=1e-15)


@pytest.mark.parametrize("form", ["Jaxpr", "ClosedJaxpr", "tuple"])
def test_optimize_keeps_a_nested_program_it_cannot_improve_as_the_same_object(form):
    """What is cached on a body (its compiled runners, its VJP split) survives optimising the program
    around it when the body is already as simple as it gets."""
    import tracing
    x = np.linspace(-1.0, 1.0, 3)
    best = tracing.make_jaxpr(lambda x: mnp.sin(x) * 3.0)(x)
    programs = {"Jaxpr": best.jaxpr, "ClosedJaxpr": best, "tuple": (best.jaxpr, best.jaxpr)}[form]
    flat = lambda p: list(p) if isinstance(p, tuple) else [p]  # noqa: E731
    hold = tracing.Primitive("hold", lambda *avals, programs: [avals[0]], lambda x, programs: [x],
                             multiple_results=True)
    outer = tracing.make_jaxpr(lambda x: hold.bind(mnp.cos(x), programs=programs)[0] * 1.0, optimize=False)(x)
    opt = tracing.optimize(outer)
    assert len(opt.jaxpr.eqns) == 2  # the outer program did change (x * 1.0 went)
    (eqn,) = [e for e in opt.jaxpr.eqns if e.prim is hold]
    for before, after in zip(flat(programs), flat(eqn.params["programs"])):
        a = after.jaxpr if isinstance(after, tracing.ClosedJaxpr) else after
        b = before.jaxpr if isinstance(before, tracing.ClosedJaxpr) else before
        assert a is b


# ---------------------------------------------------------------------------------------------
# 7c. vjp's and grad's errors name the transform and the user's function

def _named_error_cases():
    def loss(x):
        return mnp.sum(x)

    def text(x):
        return "out"

    def single(x):
        return mnp.sum(x)

    return [(loss, ("abc",), {}, "argument x is a str, not an array or a scalar"),
            (text, (np.ones(2),), {}, "output: leaf 0 is a str, not an array or a scalar"),
            (single, (np.ones(2),), {"has_aux": True}, "with has_aux=True the function must return a pair")]


@pytest.mark.parametrize("transform", ["vjp", "grad"])
def test_vjp_and_grad_errors_name_the_transform_and_the_function(transform):
    for fun, args, kwargs, what in _named_error_cases():
        with pytest.raises(mg.ArgumentError) as e:
            if transform == "vjp":
                mg.vjp(fun, *args, **kwargs)
            else:
                mg.grad(fun, **kwargs)(*args)
        assert e.value.raw_message.startswith(f"{transform}({fun.__name__}): {what}"), e.value.raw_message


def test_jits_errors_name_the_function_and_the_leaf():
    def text(x):
        return {"y": x, "label": "out"}

    with pytest.raises(mg.ArgumentError) as e:
        mg.jit(text)(np.ones(2))
    assert e.value.raw_message.startswith("output of jit(text): ") and "is a str, not an array" in e.value.raw_message
    with pytest.raises(mg.ArgumentError) as e:
        mg.jit(lambda x: x)("abc")
    assert e.value.raw_message.startswith("jit(<lambda>): ") and "is a str, not an array" in e.value.raw_message


# ---------------------------------------------------------------------------------------------
# 7d. jit's backward programs are cached: one per pattern (wanted inputs, outputs with a cotangent),
#     reused by every later gradient (so XLA compiles each once), never shared between patterns

def _backward_bodies(closed):
    return [e.params["jaxpr"] for e in closed.jaxpr.eqns if e.params.get("name", "").startswith("vjp_")]


def test_a_jitted_functions_backward_program_is_traced_once_per_pattern():
    jf = mg.jit(lambda x, y: (mnp.sum(mnp.sin(x) * y), mnp.sum(x * x)))
    x, y = np.linspace(0.1, 0.9, 3), np.arange(3.0)
    first = {}
    for _ in range(2):
        for argnums in ((0,), (1,), (0, 1)):
            for out in (0, 1):
                def loss(x, y):
                    return jf(x, y)[out]
                closed = mg.make_jaxpr(mg.grad(loss, argnums=argnums))(x, y)
                (body,) = _backward_bodies(closed)
                assert first.setdefault((argnums, out), body) is body, (argnums, out)
                got = mg.eval_jaxpr(closed.jaxpr, closed.consts, [x, y])
                want = jax.grad(lambda x, y: [jnp.sum(jnp.sin(x) * y), jnp.sum(x * x)][out], argnums)(x, y)
                for g, w in zip(got, want):
                    _assert_same(g, np.asarray(w), str((argnums, out)))
    assert len({id(b) for b in first.values()}) == len(first)  # a program per pattern


# ---------------------------------------------------------------------------------------------
# 7e. Every program a jitted function runs (its body called eagerly inside grad, the forward and backward
#     programs of its VJP, nested calls) runs on the backend it was asked for, and each is built once.

def _jit_workloads(backend):
    def f(x, y):
        return mnp.sum(mnp.tanh(x) * y) + mnp.sum(x ** 2)

    jf = mg.jit(f, backend=backend)
    x, y = np.linspace(-1.0, 1.0, 5), np.linspace(0.5, 2.0, 5)
    outer = mg.jit(lambda z: jf(z, y), backend=backend)  # a jitted function calling another
    return [
        (lambda: jf(x, y), None),
        (lambda: mg.grad(jf)(x, y), jax.grad(lambda x, y: jnp.sum(jnp.tanh(x) * y) + jnp.sum(x ** 2))(x, y)),
        (lambda: mg.grad(jf, argnums=1)(x, y), np.tanh(x)),
        (lambda: mg.grad(lambda x: outer(x) * 2.0)(x),
         2 * jax.grad(lambda x: jnp.sum(jnp.tanh(x) * y) + jnp.sum(x ** 2))(x)),
    ]


@pytest.mark.parametrize("backend", ["xla", "numpy"])
def test_jitted_programs_run_on_their_backend_and_are_built_once(backend, monkeypatch):
    from minigrad_fn import compiler
    other = "_numpy_runner" if backend == "xla" else "_xla_runner"
    mine = "_xla_runner" if backend == "xla" else "_numpy_runner"
    built = []

    def refuse(*a, **k):
        raise AssertionError(f"a program of a jit(backend={backend!r}) was built for the other backend")

    real = getattr(compiler, mine)

    def counting(jaxpr, *a, **k):
        built.append(id(jaxpr))
        return real(jaxpr, *a, **k)

    monkeypatch.setattr(compiler, other, refuse)
    monkeypatch.setattr(compiler, mine, counting)
    for run, want in _jit_workloads(backend):
        first = run()
        n = len(built)
        again = run()  # the same signature again: every runner comes from a cache
        assert len(built) == n, "a runner was built again for a program already run"
        np.testing.assert_allclose(np.asarray(again), np.asarray(first), rtol=0, atol=0)
        if want is not None:
            np.testing.assert_allclose(np.asarray(first), np.asarray(want), rtol=1e-12)
    assert len(built) == len(set(built)), "one program was given two runners"


# ---------------------------------------------------------------------------------------------
# 7f. Transformed functions say what they are: `grad(f)` is named so and wraps f (inspect.unwrap, help()).

@pytest.mark.parametrize("transform", ["grad", "value_and_grad", "jacfwd", "jacrev", "hessian", "jit"])
def test_transformed_functions_are_named_and_wrap_the_function(transform):
    def loss(x):
        return mnp.sum(x ** 2)

    t = getattr(mg, transform)(loss)
    assert t.__name__ == f"{transform}(loss)"
    assert t.__wrapped__ is loss
    import inspect
    assert inspect.unwrap(t) is loss


# ---------------------------------------------------------------------------------------------
# 7g. CSE keys parameters strictly: a namedtuple parameter is compared field by field, with each field's
#     type (1 == 1.0 == True, but they are different parameters).

def test_cse_never_merges_equations_whose_namedtuple_params_differ():
    from collections import namedtuple
    Shift = namedtuple("Shift", "a b")
    shift = lax.primitive("shift_by_tuple", lambda x, *, by: x, lambda x, *, by: x + by.a * 10 + by.b,
                          [lambda g, ans, x, *, by: g])
    values = [Shift(1, 2), Shift(1, 3), Shift(2, 2), Shift(1.5, 2), Shift(1, 2), Shift(True, 2)]

    def f(x):
        return [shift.bind(x, by=v) for v in values]

    x = np.arange(3.0)
    want = [x + v.a * 10 + v.b for v in values]
    from tracing.passes import optimize
    opt = optimize(mg.make_jaxpr(f)(x))
    for got in (mg.jit(f, backend="numpy")(x), mg.eval_jaxpr(opt.jaxpr, opt.consts, [x])):
        for g, w, v in zip(got, want, values):
            np.testing.assert_array_equal(np.asarray(g), w, err_msg=repr(v))
    kept = {repr(e.params["by"]) + type(e.params["by"].a).__name__ for e in opt.jaxpr.eqns}
    assert len(kept) == 5  # Shift(1, 2) twice is one equation; Shift(True, 2) is its own


# ---------------------------------------------------------------------------------------------
# 7h. Under grad, a value no derivative flows into (stop_gradient, floor, sign, round...) may become a
#     Python number; a value the derivative flows through may not (GradientLostError).

@pytest.mark.parametrize("make", [lambda x: lax.stop_gradient(x), mnp.floor, mnp.sign, mnp.round,
                                  lambda x: mnp.floor(x * 3.0) + lax.stop_gradient(x * 2.0)],
                         ids=["stop_gradient", "floor", "sign", "round", "floor_plus_stopped"])
def test_values_without_a_derivative_may_become_python_numbers(make):
    def f(x):
        k = float(make(x))  # no derivative is lost here
        return x * k

    x = 1.3
    k = float(make(np.float64(x)))
    assert float(mg.grad(f)(x)) == k
    with pytest.raises(mg.GradientLostError):
        mg.grad(lambda x: x * float(make(x) + x))(x)


# ---------------------------------------------------------------------------------------------
# 7i. Outputs that carry no derivative (stop_gradient'd, piecewise constant, made from integer inputs)
#     get cotangents too; the backward pass must go on past their equations to the differentiable ones
#     made before them. A mutant that stopped there returned a zero gradient without a word.

_NO_DERIVATIVE = [
    (lambda x, n: lax.stop_gradient(x) * 3.0, lambda x, n: jax.lax.stop_gradient(x) * 3.0),
    (lambda x, n: mnp.floor(x) * 2.0, lambda x, n: jnp.floor(x) * 2.0),
    (lambda x, n: n * 1.5, lambda x, n: n * 1.5),
]
_WITH_DERIVATIVE = [
    (lambda x, n: x * 2.0, lambda x, n: x * 2.0),
    (lambda x, n: mnp.sin(x) * n, lambda x, n: jnp.sin(x) * n),
    (lambda x, n: mnp.exp(x) + lax.stop_gradient(x), lambda x, n: jnp.exp(x) + jax.lax.stop_gradient(x)),
]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 2)), min_size=1, max_size=5))
def test_outputs_without_a_derivative_do_not_stop_the_backward_pass(picks):
    outs = [(_WITH_DERIVATIVE if d else _NO_DERIVATIVE)[k] for d, k in picks]
    x, n = np.array([0.3, -1.2, 2.5]), np.array([2, -1, 3])

    def ours(x):
        return tuple(m(x, n) for m, _ in outs)

    def theirs(x):
        return tuple(j(x, n) for _, j in outs)

    cts = tuple(np.full(3, float(k + 1)) for k in range(len(outs)))
    (got,) = mg.vjp(ours, x)[1](cts)
    (want,) = jax.vjp(theirs, x)[1](cts)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


# ---------------------------------------------------------------------------------------------
# 7j. The VJP split of a jitted body (grad(jit(f))): the residuals it keeps are not its inputs (those are
#     passed again), an output that is a constant takes a cotangent like any other, and an input nothing
#     reaches gets zeros of its own dtype, through jit and without it.

def test_vjp_split_keeps_no_input_as_a_residual():
    from minigrad_fn.autodiff import VJPSplit
    split = VJPSplit(mg.make_jaxpr(lambda x: mnp.sin(x) + mnp.cos(x))(np.ones(3)).jaxpr)
    assert split.res_avals == []  # sin's and cos's rules read x: the input itself, passed again

    def square_of_sin(x):
        y = mnp.sin(x)
        return y * y  # mul's rule reads y twice: one residual
    split = VJPSplit(mg.make_jaxpr(square_of_sin)(np.ones(3)).jaxpr)
    assert len(split.res_avals) == 1


def test_vjp_of_a_jitted_function_with_a_constant_output():
    f = mg.jit(lambda x: (mnp.sin(x), 3.0))
    x = np.array([0.2, 1.1])
    (out, const), vjp_fn = mg.vjp(f, x)
    assert float(const) == 3.0
    (g,) = vjp_fn((np.ones(2), 5.0))
    np.testing.assert_allclose(g, np.cos(x), rtol=1e-15)


@pytest.mark.parametrize("jitted", [False, True])
def test_gradient_of_an_input_nothing_reaches_is_zeros_of_its_dtype(jitted):
    def f(x, y):
        return mnp.sum(x * x)
    f = mg.jit(f) if jitted else f
    x, y = np.ones(3, np.float32), np.ones((2, 2), np.float32)
    gx, gy = mg.grad(f, argnums=(0, 1))(x, y)
    assert gx.dtype == np.float32 and gy.dtype == np.float32 and gy.shape == (2, 2)
    np.testing.assert_array_equal(gy, np.zeros((2, 2), np.float32))


# ---------------------------------------------------------------------------------------------
# 7k. What the caller gives and gets: a cotangent of another float dtype (or a Python number) is taken in
#     the output's dtype; arguments left out of argnums may be anything (a mode string); results a rule
#     made as read-only views (a broadcast) are handed back writable.

def test_cotangents_are_taken_in_the_outputs_dtype():
    x = np.random.default_rng(0).standard_normal(64).astype(np.float32)
    _, vjp_fn = mg.vjp(lambda x: mnp.sin(x) * x, x)
    (want,) = vjp_fn(np.ones(64, np.float32))
    np.testing.assert_allclose(want, np.cos(x) * x + np.sin(x), rtol=1e-6)
    for ct in (np.ones(64), np.ones(64, np.float16)):
        (g,) = vjp_fn(ct)
        assert g.dtype == np.float32
        np.testing.assert_array_equal(g, want)  # computed in float32, as with a float32 cotangent
    _, vjp_fn = mg.vjp(lambda x: mnp.sum(mnp.sin(x)), x)
    (g,) = vjp_fn(2.0)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 2 * np.cos(x), rtol=1e-6)


def test_arguments_outside_argnums_may_be_anything():
    def loss(x, mode, scale=1.0):
        return (mnp.sum(x) if mode == "sum" else mnp.max(x)) * scale
    x = np.array([1.0, 3.0, 2.0])
    np.testing.assert_array_equal(mg.grad(loss)(x, "sum"), np.ones(3))
    np.testing.assert_array_equal(mg.grad(loss)(x, "max"), [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(mg.grad(loss, argnums=2)(x, "max", 2.0), 3.0)
    with pytest.raises(mg.ArgumentError, match="mode"):
        mg.grad(loss, argnums=1)(x, "max")


def test_results_are_writable_even_where_a_rule_made_a_view():
    for reduce in (mnp.sum, mnp.mean):  # their rules broadcast the cotangent: mean's is a read-only view
        g = mg.grad(lambda x: reduce(x))(np.ones(3))
        g[0] = 5.0
    out, vjp_fn = mg.vjp(lambda x: mnp.broadcast_to(x, (2, 3)), np.ones(3))
    out[0, 0] = 7.0
    (gx,) = vjp_fn(np.ones((2, 3)))
    gx[1] = 4.0
    assert out.flags.writeable and gx.flags.writeable


def test_a_residual_shared_by_equations_is_snapshotted_once():
    """vjp copies each residual that is the caller's memory once, however many equations keep it."""
    from minigrad_fn.autodiff import _snapshot, memory_ids
    a, b = np.ones(3), np.zeros(2)
    kept, held = _snapshot([[a, b], (a,), None, {"k": a[1:]}], memory_ids([a]))
    (a1, b1), (a2,), _, d = kept
    assert a1 is a2 and a1 is not a and b1 is b  # one copy of a; b is not the caller's
    np.testing.assert_array_equal(d["k"], a[1:])
    assert id(a1) in held and id(b1) in held


# ---------------------------------------------------------------------------------------------
# 7l. When the numpy backend's straight-line program fails, the interpreter reruns the program for its
#     error: with the constants and the inputs each in their place (a program that closes over arrays).
#     And a custom VJP's backward part that answers in float64 for a float32 input still gives a float32
#     gradient.

def test_numpy_backend_errors_name_the_operation_when_the_program_has_constants():
    c = np.arange(4.0)
    f = mg.jit(lambda x, i: (x + c[:3] * x)[i], backend="numpy")
    assert float(f(np.ones(3), 2)) == 3.0
    with pytest.raises(mg.MinigradError, match="index 5 is out of bounds for axis 0 with size 3"):
        f(np.ones(3), 5)


def test_a_custom_backward_in_float64_gives_a_float32_gradient():
    @mg.custom_vjp
    def f(x):
        return mnp.sin(x)
    f.defvjp(lambda x: (mnp.sin(x), x), lambda x, g: (np.cos(np.asarray(x, np.float64)) * np.asarray(g, np.float64),))
    x = np.linspace(0.1, 1.0, 5).astype(np.float32)
    g = mg.grad(lambda x: mnp.sum(f(x)))(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, np.cos(x), rtol=1e-6)


def test_straight_line_runs_calls_of_one_and_many_results_and_reruns_for_errors(monkeypatch):
    """The straight-line executor unpacks the results of multiple-result primitives (a nested jit of two
    outputs, and of one) itself, without falling back on the interpreter; and when an implementation
    fails with a plain exception, the interpreter's rerun (which names the operation) gets the program's
    constants and inputs each in their place."""
    import tracing
    import tracing.interpreter as interp
    inner2 = mg.jit(lambda y: (mnp.sin(y), y * 2.0))
    inner1 = mg.jit(lambda y: (y + 1.0,))
    c = np.arange(1.0, 4.0)
    j = mg.make_jaxpr(lambda x: inner2(x)[0] + inner1(x)[0] * c + inner2(x)[1])(np.ones(3))
    assert len(j.consts) >= 1 and any(e.prim.multiple_results for e in j.eqns)
    run = tracing.straight_line(j.jaxpr)
    x = np.array([0.5, 1.0, 2.0])
    with monkeypatch.context() as m:
        m.setattr(interp, "eval_jaxpr", None)  # no fallback: the generated program computes it all
        np.testing.assert_allclose(run(*j.consts, x)[0], np.sin(x) + (x + 1.0) * c + 2 * x)

    def impl(a):
        if np.any(a < 0):
            raise ValueError("refuses negative values")
        return np.sqrt(a)
    picky = tracing.Primitive("picky_sqrt", shape_rule=lambda a: a, impl=impl)
    j = mg.make_jaxpr(lambda x: picky.bind(x * c))(np.ones(3))
    run = tracing.straight_line(j.jaxpr)
    np.testing.assert_allclose(run(*j.consts, x)[0], np.sqrt(x * c))
    with pytest.raises(mg.MinigradError, match="picky_sqrt failed on operands .*refuses negative values"):
        run(*j.consts, -x)


# ---------------------------------------------------------------------------------------------
# 7m. Inside a jitted body, a nested call's unused outputs are pruned (the body's DCE uses the call's rule,
#     as the top level's does); grad names a callable without __name__ (a functools.partial) by its type.

def test_a_nested_calls_unused_outputs_are_pruned_inside_a_jitted_body():
    two = mg.jit(lambda x: (mnp.sin(x), mnp.cos(x) * 2.0))
    j = mg.make_jaxpr(mg.jit(lambda x: two(x)[0] * 3.0))(np.ones(3))
    body = j.eqns[0].params["jaxpr"]
    body = getattr(body, "jaxpr", body)
    (inner,) = [e for e in body.eqns if e.prim.name == "jit"]
    inner_body = getattr(inner.params["jaxpr"], "jaxpr", inner.params["jaxpr"])
    assert len(inner.outvars) == 1 and [e.prim.name for e in inner_body.eqns] == ["sin"]


def test_transforms_of_a_partial_are_named_by_its_type():
    import functools
    f = functools.partial(lambda s, x: mnp.sum(mnp.sin(x) * s), 2.0)
    g = mg.grad(f)
    assert g.__name__ == "grad(partial)"
    x = np.array([0.1, 0.7])
    np.testing.assert_allclose(g(x), 2.0 * np.cos(x))
    (v, gv) = mg.value_and_grad(f)(x)
    np.testing.assert_allclose(gv, 2.0 * np.cos(x))
    with pytest.raises(mg.ArgumentError, match=r"^grad\(partial\): "):
        g("abc")


# ---------------------------------------------------------------------------------------------
# 7n. vjp_fn's refusal of a cotangent of another structure says so; static_argnums of a function with
#     *args count from the end of each call's positional arguments; debug_nans reruns a jitted program op
#     by op on the backend it ran on (XLA clamps an index numpy would refuse).

def test_vjp_fn_names_a_cotangent_of_another_structure():
    _, vjp_fn = mg.vjp(lambda x: (mnp.sin(x), x * 2.0), np.ones(2))
    with pytest.raises(mg.ArgumentError, match="cotangent's structure .* differs from the output's"):
        vjp_fn(np.ones(2))


def test_static_argnums_of_a_function_with_star_args_count_per_call():
    def f(x, *rest):
        flag = rest[-1]  # the last positional argument: a Python string, static
        return x * (2.0 if flag == "double" else 1.0) + sum(rest[:-1])
    jf = mg.jit(f, static_argnums=-1)
    assert float(jf(1.5, "double")) == 3.0
    assert float(jf(1.5, 1.0, "double")) == 4.0
    assert float(jf(1.5, 1.0, 2.0, "single")) == 4.5


def test_debug_nans_reruns_a_jitted_program_on_its_own_backend():
    f = mg.jit(lambda x, i: mnp.log(x[i]))
    x = np.array([1.0, 2.0, -3.0])
    assert np.isnan(f(x, 5))  # XLA clamps the index to 2
    with mg.debug_nans(True):
        with pytest.raises(mg.MinigradError, match="`log` made NaN"):
            f(x, 5)


def test_argnums_naming_an_argument_twice_names_that_argument():
    f = lambda x, y, z: mnp.sum(x * y * z)  # noqa: E731
    args = (np.ones(2), np.ones(2), np.ones(2))
    for argnums, twice in [((0, 2, 2), 2), ((1, 0, -2), 1), ((2, 0, 1, 0), 0)]:
        with pytest.raises(mg.ArgumentError, match=rf"argnums=\(.*\) names argument {twice} more than once"):
            mg.grad(f, argnums=argnums)(*args)
