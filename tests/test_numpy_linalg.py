"""minigrad_fn.numpy's products and einsum (`minigrad_fn/numpy/_linalg.py`) against numpy (values, dtypes, shape
errors) and against jax.numpy (gradients). The helpers are in `numpy_cases.py`."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis.extra import numpy as hnp

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from helpers import check_grad
from numpy_cases import RNG, check_numpy, sample

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


PRODUCT_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((2, 2, 3), (3, 4)),
                  ((2, 3), (2, 3, 4)), ((5, 2, 3), (1, 3, 4)), ((), (3,)), ((2, 3), ()), ((2, 3), (4, 3)),
                  ((2, 1, 3), (4, 3, 2))]


@pytest.mark.parametrize("name", ["dot", "matmul", "inner", "outer", "vdot"])
@pytest.mark.parametrize("shapes", PRODUCT_SHAPES, ids=str)
def test_products_match_numpy(name, shapes):
    for d1, d2 in [(np.float32, np.float32), (np.float32, np.float64), (np.int32, np.int64),
                   (np.bool_, np.bool_), (np.int64, np.float32), (np.bool_, np.float32)]:
        check_numpy(lambda xp, a, b: getattr(xp, name)(a, b), sample(d1, shapes[0]), sample(d2, shapes[1]))


@pytest.mark.parametrize("axes,shapes", [(0, [(2, 3), (4,)]), (1, [(2, 3, 4), (4, 3)]), (2, [(2, 3, 4), (3, 4, 2)]),
                                         (([1, 2], [1, 0]), [(2, 3, 4), (4, 3, 2)]), (([-1], [0]), [(2, 3, 4), (4, 5)]),
                                         ((2, 0), [(2, 3, 4), (4, 3)]), (((0, 2), (2, 0)), [(2, 3, 4), (4, 5, 2)]),
                                         (0, [(2, 3), (4, 2)])], ids=str)
def test_tensordot_matches_numpy(axes, shapes):
    for d1, d2 in [(np.float32, np.float64), (np.float32, np.float32), (np.int32, np.int64), (np.bool_, np.int32)]:
        check_numpy(lambda xp, a, b: xp.tensordot(a, b, axes), sample(d1, shapes[0]), sample(d2, shapes[1]))


PRODUCTS = {"dot": lambda xp, a, b: xp.dot(a, b), "matmul": lambda xp, a, b: xp.matmul(a, b),
            "inner": lambda xp, a, b: xp.inner(a, b), "outer": lambda xp, a, b: xp.outer(a, b),
            "vdot": lambda xp, a, b: xp.vdot(a, b), "tensordot1": lambda xp, a, b: xp.tensordot(a, b, 1),
            "tensordot0": lambda xp, a, b: xp.tensordot(a, b, 0)}


def _numpy_accepts(fn, shapes):
    try:
        fn(np, np.ones(shapes[0]), np.ones(shapes[1]))
        return True
    except ValueError:
        return False


PRODUCT_GRAD_CASES = [(name, shapes) for name in PRODUCTS
                      for shapes in [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                                     ((2, 2, 3), (3, 4)), ((2, 3), (2, 3, 4)), ((5, 1, 2, 3), (4, 3, 2)),
                                     ((2, 3), (4, 3))]
                      if _numpy_accepts(PRODUCTS[name], shapes)]


@pytest.mark.parametrize("name,shapes", PRODUCT_GRAD_CASES, ids=[f"{n}-{s}" for n, s in PRODUCT_GRAD_CASES])
def test_product_gradients_match_jax(name, shapes):
    a, b = RNG.standard_normal(shapes[0]), RNG.standard_normal(shapes[1])
    check_grad(lambda xp, a, b: xp.sum(xp.sin(PRODUCTS[name](xp, a, b))), a, b, argnums=(0, 1))


@given(shapes=hnp.mutually_broadcastable_shapes(signature="(m?,n),(n,p?)->(m?,p?)", max_dims=3, max_side=3))
def test_matmul_broadcasting_batches_match_numpy_and_jax(shapes):
    a, b = RNG.standard_normal(shapes.input_shapes[0]), RNG.standard_normal(shapes.input_shapes[1])
    check_numpy(lambda xp, a, b: xp.matmul(a, b), a, b)
    check_grad(lambda xp, a, b: xp.sum(xp.cos(a @ b)), a, b, argnums=(0, 1), fd=False)


def test_product_shape_errors():
    for fn in [lambda: mnp.dot(np.ones((2, 3)), np.ones((2, 3))), lambda: mnp.matmul(np.ones(3), np.ones(4)),
               lambda: mnp.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 2))), lambda: mnp.inner(np.ones(2), np.ones(3)),
               lambda: mnp.vdot(np.ones(2), np.ones(3)), lambda: mnp.tensordot(np.ones((2, 3)), np.ones((2, 3)), 1),
               lambda: mnp.matmul(np.ones(3), 2.0)]:
        with pytest.raises(ValueError):
            fn()


# ---- einsum -------------------------------------------------------------------------------------------
EINSUMS = [("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(5, 2, 3), (5, 3, 4)]), ("i,j->ij", [(3,), (4,)]),
           ("ij->", [(3, 4)]), ("ij->ji", [(3, 4)]), ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
           ("ij,jk", [(2, 3), (3, 4)]), ("ij", [(3, 4)]), ("ji", [(3, 4)]), ("i,i", [(3,), (3,)]),
           ("ij->i", [(3, 4)]), ("ij,ij->ij", [(3, 4), (3, 4)]), ("ijk,ikl->jl", [(2, 3, 4), (2, 4, 5)]),
           ("i,j,k->ijk", [(2,), (3,), (4,)]), ("ab,cd->", [(2, 3), (4, 5)]), ("ij,kj->ikj", [(2, 3), (4, 3)]),
           ("ij,jk->ki", [(2, 3), (3, 4)]), ("abc,cd,de->abe", [(2, 3, 4), (4, 5), (5, 6)]),
           ("ij,kl->ijkl", [(2, 3), (4, 2)]), ("ij,kl->kjil", [(2, 3), (4, 2)]),
           ("ij,jk,ki->", [(2, 3), (3, 4), (4, 2)]),
           ("ij,kl,jl->ik", [(2, 3), (4, 5), (3, 5)]), ("i,i->", [(4,), (4,)]), (" ij , jk -> ik ", [(2, 3), (3, 4)])]


@pytest.mark.parametrize("spec,shapes", EINSUMS, ids=[s for s, _ in EINSUMS])
def test_einsum_matches_numpy_and_jax(spec, shapes):
    for dtypes in [[np.float64] * 3, [np.float32] * 3, [np.int32, np.int64, np.int32],
                   [np.float32, np.float64, np.float32]]:
        ops = [sample(d, s) for d, s in zip(dtypes, shapes)]
        check_numpy(lambda xp, *ops: xp.einsum(spec, *ops), *ops)
    ops = [RNG.standard_normal(s) for s in shapes]
    np.testing.assert_allclose(mnp.einsum(spec, *ops), jnp.einsum(spec, *ops), rtol=1e-12)
    check_grad(lambda xp, *ops: xp.sum(xp.sin(xp.einsum(spec, *ops))), *ops, argnums=tuple(range(len(ops))))


@pytest.mark.parametrize("spec,shapes", [("ii", [(3, 3)]), ("ii->i", [(3, 3)]), ("ij,jj->i", [(2, 3), (3, 3)]),
                                         ("...ij,...jk", [(2, 3), (3, 4)]), ("ij...", [(3, 4)]),
                                         ("bij,bjk->b...", [(2, 2, 3), (2, 3, 4)])])
def test_einsum_diagonals_and_ellipses_are_unsupported(spec, shapes):
    ops = [np.ones(s) for s in shapes]
    with pytest.raises(mg.UnsupportedError):
        mnp.einsum(spec, *ops)
    with pytest.raises(mg.UnsupportedError):
        mg.grad(lambda *o: mnp.sum(mnp.einsum(spec, *o)))(*ops)


def test_einsum_shape_errors():
    for spec in ["ij->k", "ij->ii", "ij,jk->ik,"]:
        with pytest.raises(ValueError):
            mnp.einsum(spec, np.ones((2, 3)), np.ones((3, 4)))
    with pytest.raises(ValueError):
        mnp.einsum("ij,jk->ik", np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError):
        mnp.einsum("ij,jk->ik", np.ones((2, 3)))
    with pytest.raises(ValueError):
        mnp.einsum("ijk->i", np.ones((2, 3)))
