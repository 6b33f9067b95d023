"""The IR: abstract values, variables, literals, equations and jaxprs, plus the jaxpr-style printer."""
from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np

from .source import NO_SOURCE, SourceInfo

_SHORT = {
    "float16": "f16", "float32": "f32", "float64": "f64", "bfloat16": "bf16",
    "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
    "uint8": "u8", "uint16": "u16", "uint32": "u32", "uint64": "u64",
    "bool": "bool", "complex64": "c64", "complex128": "c128",
}


def short_dtype(dtype: np.dtype) -> str:
    """The jaxpr-style short name of a dtype (f32, i64, bool...)."""
    return _SHORT.get(dtype.name, dtype.name)


class ShapedArray:
    """An abstract value: what the tracer knows about an array (its shape and dtype)."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple, dtype: np.dtype):
        self.shape = shape
        self.dtype = dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def __eq__(self, other):
        return isinstance(other, ShapedArray) and self.shape == other.shape and self.dtype == other.dtype

    def __hash__(self):
        return hash((self.shape, self.dtype))

    def str_short(self) -> str:
        return f"{short_dtype(self.dtype)}[{','.join(map(str, self.shape))}]"

    __str__ = str_short

    def __repr__(self):
        return f"ShapedArray({self.shape}, {self.dtype.name})"


def aval_of(x: Any) -> ShapedArray:
    """The abstract value of a concrete array-like or of a tracer."""
    if isinstance(x, (np.ndarray, np.generic)):
        return ShapedArray(x.shape, x.dtype)
    a = getattr(x, "aval", None)
    if type(a) is ShapedArray:  # a tracer (a jax.Array's aval is JAX's own class)
        return a
    if hasattr(x, "shape") and hasattr(x, "dtype"):  # jax.Array and other array types: no host copy
        return ShapedArray(tuple(x.shape), np.dtype(x.dtype))
    x = np.asarray(x)
    return ShapedArray(x.shape, x.dtype)


class Var:
    """A variable of the IR; identity is the object itself, names are given when printing."""

    __slots__ = ("aval",)

    def __init__(self, aval: ShapedArray):
        self.aval = aval

    def __repr__(self):
        return f"Var({self.aval})"


class Literal:
    """A scalar constant written inline in the IR."""

    __slots__ = ("val", "aval")

    def __init__(self, val: Any, aval: ShapedArray):
        self.val = val
        self.aval = aval

    def __repr__(self):
        return f"Literal({self.val!r})"

    def str_short(self) -> str:
        v = self.val.item() if hasattr(self.val, "item") else self.val
        return f"{v}:{self.aval}"


Atom = "Var | Literal"


class Eqn:
    """One equation `outvars = prim[params](invars)`, and where it came from (`source`)."""

    __slots__ = ("prim", "invars", "outvars", "params", "source")

    def __init__(self, prim, invars: list, outvars: list, params: dict, source: SourceInfo = NO_SOURCE):
        self.prim = prim
        self.invars = invars
        self.outvars = outvars
        self.params = params
        self.source = source

    def replace(self, prim=None, invars=None, outvars=None, params=None) -> "Eqn":
        """A copy with some parts changed; the source info is kept (every rewrite uses this)."""
        return Eqn(self.prim if prim is None else prim, self.invars if invars is None else invars,
                   self.outvars if outvars is None else outvars, self.params if params is None else params,
                   self.source)

    def __repr__(self):
        return f"Eqn({self.prim.name}, {len(self.invars)} in, {len(self.outvars)} out)"


def subjaxprs(eqn: Eqn) -> Iterator[tuple[str, "Jaxpr"]]:
    """`(param name, Jaxpr)` for every program an equation holds in its params (a call's body, a loop's
    body, a conditional's branches): the one way every tool that walks IR finds nested programs. A
    ClosedJaxpr yields its Jaxpr; a tuple or list of them yields each."""
    for k, v in eqn.params.items():
        if isinstance(v, Jaxpr):
            yield k, v
        elif isinstance(v, ClosedJaxpr):
            yield k, v.jaxpr
        elif isinstance(v, (tuple, list)) and v and isinstance(v[0], (Jaxpr, ClosedJaxpr)):
            for b in v:
                yield k, b if isinstance(b, Jaxpr) else b.jaxpr


def has_subjaxprs(eqn: Eqn) -> bool:
    """True if the equation holds a nested program (a higher-order primitive)."""
    return next(subjaxprs(eqn), None) is not None


class Jaxpr:
    """A program: constvars and invars in, equations, outvars out. Treat it as immutable."""

    __slots__ = ("constvars", "invars", "outvars", "eqns", "cache")

    def __init__(self, constvars: list, invars: list, outvars: list, eqns: list):
        self.constvars = constvars
        self.invars = invars
        self.outvars = outvars
        self.eqns = eqns
        self.cache: dict = {}  # what is derived from this program once: last uses, compiled code...

    @property
    def in_avals(self) -> list:
        return [v.aval for v in self.invars]

    @property
    def out_avals(self) -> list:
        return [v.aval for v in self.outvars]

    def pretty(self, source: bool = False) -> str:
        """The program as text; `source=True` notes each equation's user line and name stack."""
        return pp_jaxpr(self, source=source)

    def __str__(self):
        return pp_jaxpr(self)

    __repr__ = __str__


class ClosedJaxpr:
    """A Jaxpr together with the values of its constvars."""

    __slots__ = ("jaxpr", "consts")

    def __init__(self, jaxpr: Jaxpr, consts: Sequence):
        self.jaxpr = jaxpr
        self.consts = list(consts)

    @property
    def eqns(self) -> list:
        return self.jaxpr.eqns

    @property
    def in_avals(self) -> list:
        return self.jaxpr.in_avals

    @property
    def out_avals(self) -> list:
        return self.jaxpr.out_avals

    def pretty(self, source: bool = False) -> str:
        """The program as text; `source=True` notes each equation's user line and name stack."""
        return pp_jaxpr(self.jaxpr, source=source)

    def __str__(self):
        return pp_jaxpr(self.jaxpr)

    __repr__ = __str__

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))


# ---------------------------------------------------------------------------------------------
# Pretty printing, in the jaxpr style.

def var_names():
    """a, b, ..., z, ba, bb, ...: the names variables get when printed."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    n = 0
    while True:
        s, k = "", n
        while True:
            s = letters[k % 26] + s
            k = k // 26
            if k == 0:
                break
        yield s
        n += 1


def _pp_param(v: Any) -> str:
    if isinstance(v, np.dtype):
        return v.name
    if isinstance(v, type) and issubclass(v, np.generic):
        return np.dtype(v).name
    return str(v)


def pp_jaxpr(jaxpr: Jaxpr, indent: int = 0, source: bool = False) -> str:
    """Render a Jaxpr as text: `{ lambda consts; args. let eqns in (outs) }`; nested programs (see
    `subjaxprs`) are printed indented inside their equation's params."""
    names: dict = {}
    gen = var_names()

    def name(v) -> str:
        if isinstance(v, Literal):
            return v.str_short()
        n = names.get(v)
        if n is None:
            n = names[v] = next(gen)
        return n

    def decl(v) -> str:
        return f"{name(v)}:{v.aval}"

    pad = " " * indent
    head = f"{pad}{{ lambda {' '.join(decl(v) for v in jaxpr.constvars)}; " \
           f"{' '.join(decl(v) for v in jaxpr.invars)}. let"
    lines = [head]
    for eqn in jaxpr.eqns:
        outs = " ".join(decl(v) for v in eqn.outvars)
        params = ""
        nested = {k for k, _ in subjaxprs(eqn)}
        if nested:  # a higher-order primitive: its programs, indented
            inner = []
            for k, v in sorted(eqn.params.items()):
                if k in nested:
                    bodies = [b for kk, b in subjaxprs(eqn) if kk == k]
                    text = "\n".join(pp_jaxpr(b, indent + 6, source).lstrip() if i == 0 else
                                     pp_jaxpr(b, indent + 6, source) for i, b in enumerate(bodies))
                    inner.append(f"{k}={text}")
                else:
                    inner.append(f"{k}={_pp_param(v)}")
            params = "[\n" + "".join(f"{pad}      {p}\n" for p in inner) + f"{pad}    ]"
        elif eqn.params:
            params = "[" + " ".join(f"{k}={_pp_param(v)}" for k, v in sorted(eqn.params.items())) + "]"
        ins = " ".join(name(v) for v in eqn.invars)
        line = f"{pad}    {outs} = {eqn.prim.name}{params} {ins}".rstrip()
        if source and eqn.source.describe():
            line += f"  # {eqn.source.describe()}"
        lines.append(line)
    outs = ", ".join(name(v) for v in jaxpr.outvars)
    lines.append(f"{pad}  in ({outs},) }}" if len(jaxpr.outvars) == 1 else f"{pad}  in ({outs}) }}")
    return "\n".join(lines)
