"""Cross-checking helpers: our gradients against jax.grad and central finite differences, in float64.

Write the function once against an array module `xp` and run it with minigrad_fn.numpy and jax.numpy:

    check_grad(lambda xp, x, y: xp.sum(xp.tanh(x) * y), x, y, argnums=(0, 1))
"""
from __future__ import annotations

import numpy as np

import jax
import jax.numpy as jnp

import minigrad_fn as mg
import minigrad_fn.numpy as mnp


def numerical_grad(f, args, argnum: int, eps: float = 1e-6) -> np.ndarray:
    """Central finite differences of a scalar f with respect to args[argnum] (float64)."""
    args = [np.array(a, dtype=np.float64) if i == argnum else a for i, a in enumerate(args)]
    x = args[argnum]
    g = np.zeros_like(x)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        hi = float(f(*args))
        flat[i] = old - eps
        lo = float(f(*args))
        flat[i] = old
        gflat[i] = (hi - lo) / (2 * eps)
    return g


def check_grad(fn, *args, argnums=0, rtol: float = 1e-7, atol: float = 1e-9, fd: bool = True,
               fd_rtol: float = 1e-5, fd_atol: float = 1e-6):
    """Assert mg.grad of fn(mnp, *args) equals jax.grad of fn(jnp, *args), and finite differences.

    Returns our gradients (a tuple when argnums is a tuple).
    """
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    args = tuple(np.asarray(a) for a in args)
    ours = mg.grad(lambda *a: fn(mnp, *a), argnums=nums)(*args)
    theirs = jax.grad(lambda *a: fn(jnp, *a), argnums=nums)(*[jnp.asarray(a) for a in args])
    value_ours = fn(mnp, *args)
    value_jax = fn(jnp, *[jnp.asarray(a) for a in args])
    np.testing.assert_allclose(np.asarray(value_ours), np.asarray(value_jax), rtol=rtol, atol=atol,
                               err_msg="forward values differ from JAX")
    for i, a, b in zip(nums, ours, theirs):
        assert isinstance(a, np.ndarray), f"gradient {i} is a {type(a).__name__}, not an ndarray"
        assert a.shape == np.shape(args[i]) and a.dtype == args[i].dtype, \
            f"gradient {i}: {a.shape} {a.dtype} vs argument {np.shape(args[i])} {args[i].dtype}"
        np.testing.assert_allclose(a, np.asarray(b), rtol=rtol, atol=atol,
                                   err_msg=f"gradient w.r.t. argument {i} differs from jax.grad")
        if fd:
            num = numerical_grad(lambda *a: fn(mnp, *a), args, i)
            np.testing.assert_allclose(a, num, rtol=fd_rtol, atol=fd_atol,
                                       err_msg=f"gradient w.r.t. argument {i} differs from finite differences")
    return ours[0] if single else ours


def marked_line(path: str, marker: str) -> int:
    """The number of the one line of file `path` that ends with the comment `# @marker` (tests mark the
    lines an error message or a report must point at)."""
    with open(path) as f:
        hits = [i for i, t in enumerate(f.read().splitlines(), 1) if t.rstrip().endswith(f"# @{marker}")]
    assert len(hits) == 1, f"marker @{marker} found {len(hits)} times in {path}"
    return hits[0]
