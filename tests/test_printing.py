"""Golden printouts of make_jaxpr: the IR users read must stay stable and readable."""
import numpy as np

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from minigrad_fn import demo


def test_add_mul_and_its_gradient():
    assert str(mg.make_jaxpr(demo.add_mul)(-2.0, 5.0, -4.0)) == """\
{ lambda ; a:f64[] b:f64[] c:f64[]. let
    d:f64[] = add a b
    e:f64[] = mul d c
  in (e,) }"""
    # as recorded: the backward pass multiplies the seed 1.0 by the local gradients
    assert str(mg.make_jaxpr(mg.grad(demo.add_mul, argnums=(0, 1, 2)), optimize=False)(-2.0, 5.0, -4.0)) == """\
{ lambda ; a:f64[] b:f64[] c:f64[]. let
    d:f64[] = add a b
    e:f64[] = mul 1.0:f64[] c
    f:f64[] = mul 1.0:f64[] d
  in (e, e, f) }"""
    # after the passes: x * 1 -> x, and df/dx = df/dy = z, df/dz = x + y are plain wires
    assert str(mg.make_jaxpr(mg.grad(demo.add_mul, argnums=(0, 1, 2)))(-2.0, 5.0, -4.0)) == """\
{ lambda ; a:f64[] b:f64[] c:f64[]. let
    d:f64[] = add a b
  in (c, c, d) }"""


def test_reductions_params_and_dtypes_print():
    closed = mg.make_jaxpr(lambda x, y: mnp.sum(mnp.tanh(x @ y) ** 2, axis=0))(
        np.zeros((2, 3)), np.zeros((3, 4), np.float32))
    assert str(closed) == """\
{ lambda ; a:f64[2,3] b:f32[3,4]. let
    c:f64[3,4] = convert_element_type[new_dtype=float64] b
    d:f64[2,4] = dot_general[dimension_numbers=(((1,), (0,)), ((), ()))] a c
    e:f64[2,4] = tanh d
    f:f64[2,4] = integer_pow[y=2] e
    g:f64[4] = reduce_sum[axes=(0,)] f
  in (g,) }"""


def test_two_layer_net_gradient():
    f32 = np.float32
    args = (np.zeros((6, 5), f32), np.zeros((5, 3), f32), np.zeros((4, 6), f32), np.zeros((4, 3), f32))
    closed = mg.make_jaxpr(mg.grad(demo.two_layer_loss, argnums=(0, 1)))(*args)
    assert str(closed) == """\
{ lambda ; a:f32[6,5] b:f32[5,3] c:f32[4,6] d:f32[4,3]. let
    e:f32[4,5] = dot_general[dimension_numbers=(((1,), (0,)), ((), ()))] c a
    f:f32[4,5] = neg e
    g:f32[4,5] = exp f
    h:f32[4,5] = add 1.0:f32[] g
    i:f32[4,5] = div 1.0:f32[] h
    j:f32[4,3] = dot_general[dimension_numbers=(((1,), (0,)), ((), ()))] i b
    k:f32[4,3] = sub j d
    l:f32[4,3] = mul 2.0:f32[] k
    m:f32[4,5] = dot_general[dimension_numbers=(((1,), (1,)), ((), ()))] l b
    n:f32[5,3] = dot_general[dimension_numbers=(((0,), (0,)), ((), ()))] i l
    o:f32[4,5] = div i h
    p:f32[4,5] = mul m o
    q:f32[4,5] = neg p
    r:f32[4,5] = mul q g
    s:f32[4,5] = neg r
    t:f32[6,5] = dot_general[dimension_numbers=(((0,), (0,)), ((), ()))] c s
  in (t, n) }"""
    mg.typecheck(closed.jaxpr)
    assert closed.consts == []  # the sum's cotangent (ones) multiplied in, then simplified away (x * 1 -> x)
    raw = mg.make_jaxpr(mg.grad(demo.two_layer_loss, argnums=(0, 1)), optimize=False)(*args)
    # as recorded (omnistaging), the ones are a broadcast of 1.0, not a constant
    assert raw.consts == [] and "broadcast_in_dim[broadcast_dimensions=() shape=(4, 3)] 1.0:f32[]" in str(raw)
    assert "mul l m" in str(raw) and len(raw.eqns) == len(closed.eqns) + 2
