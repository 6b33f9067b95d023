"""jit: trace once per input signature, optimise the IR, run it compiled by XLA or with numpy; cache it.

    step = mg.jit(mg.value_and_grad(loss))
    step(params, X, y)        # traced (shapes and dtypes only) and compiled on the first call, cached after

`backend="xla"` lowers every equation to `jax.lax` by the primitive's "lower" rule and hands the result to
`jax.jit`; `backend="numpy"` runs the same IR with the numpy interpreter (no JAX needed).

Inside another transformation a jitted function is one equation of the call primitive `jit`, holding its
body as a Jaxpr whose first inputs are the body's constants. Its VJP is the VJP of the body, itself
jitted, so grad(jit(f)), jit(grad(f)), jit(jit(f)) and grad(grad(jit(f))) all compose.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import optree

from tracing import debug
from tracing import (ROOT, ArgumentError, Jaxpr, JaxprTypeError, MinigradError, Primitive, Tracer, Var, aval_of,
                     check_leaves, current_trace, dce, is_array_like, leaf_names, name_scope, new_trace,
                     optimize, source_line, straight_line, tree_flatten, tree_unflatten)

from .autodiff import memory_ids, owned, vjp_split
from .primitives._base import VJP


class LoweringError(MinigradError, NotImplementedError):
    """A primitive has no rule to lower it to JAX."""


# ---------------------------------------------------------------------------------------------
# Lowering: the IR as a function of JAX values

def lower_jaxpr(jaxpr: Jaxpr, args: Sequence) -> list:
    """Evaluate `jaxpr` (constvars first, then invars) on JAX values with each primitive's "lower" rule.

    Called inside `jax.jit` (or any JAX transformation), this is the program written with `jax.lax`.
    """
    env = dict(zip(jaxpr.constvars + jaxpr.invars, args))
    for eqn in jaxpr.eqns:
        rule = eqn.prim.rules.get("lower")
        if rule is None:
            at = f" (traced at {eqn.source.location()})" if eqn.source.code is not None else ""
            raise LoweringError(
                f"jit: primitive {eqn.prim.name} has no lowering to JAX{at}",
                f"Give {eqn.prim.name} a `lower` rule beside its definition (primitive(..., lower=...)), "
                "or run this function with jit(f, backend='numpy').", where=source_line(eqn.source) or None)
        out = rule(*[env[v] if type(v) is Var else v.val for v in eqn.invars], **eqn.params)
        if eqn.prim.multiple_results:
            env.update(zip(eqn.outvars, out))
        else:
            env[eqn.outvars[0]] = out
    return [env[v] if type(v) is Var else v.val for v in jaxpr.outvars]


def _jax():
    import jax
    return jax


def _numpy_runner(jaxpr: Jaxpr, consts: Sequence = ()) -> Callable:
    """The IR as a straight-line Python function of numpy calls (constants bound in); other arrays
    (jax.Arrays, lists) are converted to numpy first. The caller owns the results: an output that is an
    input, a constant, a view of one, or another output (the program may pass values through) is copied."""
    program = straight_line(jaxpr)
    consts = list(consts)
    literals = [v.val for e in jaxpr.eqns for v in e.invars if type(v) is not Var]
    kept = memory_ids(consts) | memory_ids(literals + [v.val for v in jaxpr.outvars if type(v) is not Var])

    def run(*args):
        for a in args:
            if type(a) is not np.ndarray:
                args = [np.asarray(a) for a in args]
                break
        return owned(program(*consts, *args), kept | memory_ids(args))
    return run


def _snapshot(c):
    """A constant as jit keeps it: a numpy array is copied at trace time (and made read-only), so changing
    the caller's array later changes neither backend's results (XLA embeds its value when it compiles)."""
    if isinstance(c, np.ndarray):
        c = np.array(c, copy=True)
        c.flags.writeable = False
    return c


def _xla_runner(jaxpr: Jaxpr, consts: Sequence = (), name: str = "program", **jit_options) -> Callable:
    """`jax.jit` of the lowered program; constants are closed over (JAX passes big ones as arguments).

    Every call runs with float64 enabled, so float64 programs stay float64 whatever the user's JAX
    configuration is; float32 programs are unaffected (every dtype in the IR is explicit).
    """
    jax = _jax()
    consts = list(consts)

    def program(*args):
        return lower_jaxpr(jaxpr, consts + list(args))
    program.__name__ = program.__qualname__ = name.replace("(", "_").replace(")", "")  # jit_<name> in the HLO
    compiled = jax.jit(program, **jit_options)
    x64 = jax.enable_x64

    def run(*args):
        with x64(True):
            return compiled(*args)
    run.jax_function = compiled
    return run


def _cached_runner(jaxpr: Jaxpr, backend: str) -> Callable:
    run = jaxpr.cache.get(backend)
    if run is None:
        run = jaxpr.cache[backend] = (_xla_runner if backend == "xla" else _numpy_runner)(jaxpr)
    return run


# ---------------------------------------------------------------------------------------------
# The call primitive

def _jit_shape_rule(*avals, jaxpr: Jaxpr, name: str, backend: str):
    if list(avals) != jaxpr.in_avals:
        raise JaxprTypeError(f"jit({name}): called with {[str(a) for a in avals]} but its body takes "
                             f"{[str(a) for a in jaxpr.in_avals]}")
    return jaxpr.out_avals


def _jit_impl(*args, jaxpr: Jaxpr, name: str, backend: str):
    # The eager path (inside grad's forward pass): numpy values in, numpy values out.
    outs = [np.asarray(o) for o in _cached_runner(jaxpr, backend)(*args)]
    if debug.active:
        _debug_rerun(jaxpr, args, backend, outs)
    return outs


# ---------------------------------------------------------------------------------------------
# debug_nans / debug_infs under jit: run again op by op, as JAX does

def _debug_rerun(jaxpr: Jaxpr, args: Sequence, backend: str, outs: Sequence) -> None:
    """If the compiled program's outputs are not all finite, run it again one equation at a time on the
    same backend, checking each: `debug.check` raises naming the equation and its user line."""
    if all(np.isfinite(o).all() for o in outs if np.asarray(o).dtype.kind == "f"):
        return
    _run_checked(jaxpr, args, backend)  # an inf that became a NaN is found here too
    what = debug.problem(args, outs)
    if what is None:
        return
    raise debug.NonFiniteError(
        f"debug_{'nans' if what == 'NaN' else 'infs'}: the compiled program made {what}, but no operation "
        "does when its equations run one at a time (the compiler fused or reordered them)",
        "Run it with jit(f, backend='numpy') or without jit to find the operation.", where="")


def _run_checked(jaxpr: Jaxpr, args: Sequence, backend: str) -> list:
    """Evaluate a call's body equation by equation (numpy implementations, or each lowering rule run
    eagerly by JAX) and `debug.check` each; calls inside run the same way."""
    jax = _jax() if backend == "xla" else None
    env = dict(zip(jaxpr.invars, args))
    for eqn in jaxpr.eqns:
        ins = [env[v] if type(v) is Var else v.val for v in eqn.invars]
        if eqn.prim is jit_p:
            outs = _run_checked(eqn.params["jaxpr"], ins, eqn.params["backend"])
        elif jax is not None:
            with jax.enable_x64(True):
                outs = eqn.prim.rules["lower"](*ins, **eqn.params)
        else:
            outs = eqn.prim.impl(*ins, **eqn.params)
        outs = list(outs) if eqn.prim.multiple_results else [outs]
        debug.check(eqn.prim, ins, outs, eqn.source)
        env.update(zip(eqn.outvars, outs))
    return [env[v] if type(v) is Var else v.val for v in jaxpr.outvars]


def _jit_fwd(parent, prim, args, params, in_avals, out_avals):
    """The forward call returns the body's residuals beside its outputs (one call, nothing recomputed)."""
    split = vjp_split(params["jaxpr"])
    body, consts = split.fwd
    outs = parent.process(jit_p, [*consts, *args], dict(params, jaxpr=body, name=params["name"] + "_fwd"))
    return outs[:split.n_out], (list(args), outs[split.n_out:])


def _jit_bwd(eqn, res, cts, wanted):
    """The backward call: the body's backward program, jitted, on (inputs, residuals, cotangents)."""
    (args, residuals), params = res, eqn.params
    body, consts = vjp_split(params["jaxpr"]).backward(tuple(wanted), tuple(c is not None for c in cts))
    got = iter(jit_p.bind(*consts, *args, *residuals, *[c for c in cts if c is not None], jaxpr=body,
                          name=f"vjp_{params['name']}", backend=params["backend"]))
    return [next(got) if w else None for w in wanted]


def _jit_dce(eqn, used):
    """Drop the outputs of a call that nothing reads, and what computed only them in its body."""
    body = eqn.params["jaxpr"]
    smaller = dce(Jaxpr([], body.invars, [v for v, u in zip(body.outvars, used) if u], body.eqns))
    return eqn.replace(outvars=[v for v, u in zip(eqn.outvars, used) if u], params=dict(eqn.params, jaxpr=smaller))


def _jit_jvp(primals, tangents, *, jaxpr, name, backend):
    """A call's JVP is one call of the body's JVP (traced once per pattern of nonzero tangents)."""
    from .forward import jvp_body
    body, consts, out_nonzero = jvp_body(jaxpr, tuple(t is not None for t in tangents))
    outs = jit_p.bind(*consts, *primals, *[t for t in tangents if t is not None], jaxpr=body,
                      name=f"jvp_{name}", backend=backend)
    n = len(jaxpr.outvars)
    given = iter(outs[n:])
    return outs[:n], [next(given) if nz else None for nz in out_nonzero]


def _jit_batch(args, dims, *, jaxpr, name, backend):
    """A batched call is one call of the batched body (traced once per pattern of batch axes); its
    batched outputs have the batch first."""
    from .batching import batch_body
    from .primitives._transforms import batch_size
    body, consts, out_dims = batch_body(jaxpr, tuple(dims), batch_size(args, dims))
    outs = jit_p.bind(*consts, *args, jaxpr=body, name=f"vmap_{name}", backend=backend)
    return outs, list(out_dims)


jit_p = Primitive("jit", _jit_shape_rule, _jit_impl, multiple_results=True)
jit_p.rules["jvp"] = _jit_jvp
jit_p.rules["batch"] = _jit_batch
jit_p.rules["vjp"] = VJP(_jit_bwd, fwd=_jit_fwd)
jit_p.rules["lower"] = lambda *args, jaxpr, name, backend: lower_jaxpr(jaxpr, args)
jit_p.rules["dce"] = _jit_dce


# ---------------------------------------------------------------------------------------------
# jit

class JitCacheInfo(NamedTuple):
    hits: int       # calls served from the cache
    misses: int     # calls that traced (and, on first use, compiled) a new signature
    size: int       # signatures cached now


class _Entry:
    """One traced signature: the optimised body (constants as leading inputs) and its runner."""

    __slots__ = ("jaxpr", "consts", "out_tree", "run")

    def __init__(self, jaxpr, consts, out_tree, run):
        self.jaxpr, self.consts, self.out_tree, self.run = jaxpr, consts, out_tree, run


def _hashable(fun, value, what):
    try:
        hash(value)
    except TypeError:
        raise ArgumentError(
            f"jit({_name(fun)}): static argument {what} is a {type(value).__name__}, which is unhashable; "
            "static arguments are keys of the compilation cache",
            "Pass a hashable value (a tuple instead of a list, a frozenset instead of a set), or make it "
            "a regular traced argument by leaving it out of static_argnums/static_argnames.") from None
    return value


def _static_key(value):
    """A static argument as a cache key: equal only for equal values of the same type, recursively in
    tuples and frozensets. Python finds 1 == 1.0 == True == np.int32(1) (and -0.0 == 0.0), but each traces
    a different program."""
    t = type(value)
    if isinstance(value, np.generic):
        return t, value.tobytes()
    if t is float:
        return t, value.hex()  # -0.0 and 0.0 differ; nan equals itself
    if t is complex:
        return t, value.real.hex(), value.imag.hex()
    if isinstance(value, tuple):
        return t, tuple(_static_key(v) for v in value)
    if isinstance(value, frozenset):
        return t, frozenset(_static_key(v) for v in value)
    return t, value


def _static_positions_and_names(fun, argnums: tuple, argnames: tuple) -> tuple[tuple, tuple]:
    """static_argnums and static_argnames completed from each other through fun's signature, as jax.jit
    does: a static argument is static whether it is passed by position or by keyword. When both are
    given (or there is no signature), they are used as given."""
    if bool(argnums) == bool(argnames):
        return argnums, argnames
    try:
        params = list(inspect.signature(fun).parameters.values())
    except (TypeError, ValueError):
        return argnums, argnames
    either = inspect.Parameter.POSITIONAL_OR_KEYWORD
    if argnums:
        # a negative argnum counts from the end of the signature (without *args), not of each call's
        # positional arguments: f(n, x) with static_argnums=-2 keeps n static in f(2, x=x) too
        n = len(params) if all(p.kind != p.VAR_POSITIONAL for p in params) else None
        wanted = {i if i >= 0 or n is None else i + n for i in argnums}
        names = tuple(p.name for i, p in enumerate(params) if p.kind == either and i in wanted)
        return (argnums if n is None else tuple(sorted(wanted))), names
    return tuple(i for i, p in enumerate(params) if p.kind == either and p.name in argnames), argnames


def _name(fun) -> str:
    return getattr(fun, "__name__", type(fun).__name__)


_SCALARS = (int, float, bool, complex)


class Jitted:
    """A function traced once per input signature and run compiled; see `jit`."""

    def __init__(self, fun, static_argnums, static_argnames, donate_argnums, backend, device,
                 in_shardings, out_shardings):
        if backend not in ("xla", "numpy"):
            raise ArgumentError(f"jit: backend={backend!r}; use 'xla' or 'numpy'")
        if backend == "numpy" and (device is not None or in_shardings is not None or out_shardings is not None
                                   or donate_argnums):
            raise ArgumentError("jit: device, shardings and donation need backend='xla'")
        if device is not None and in_shardings is not None:
            raise ArgumentError("jit: give either device= or in_shardings=, not both")
        self.fun = fun
        self.static_argnums, self.static_argnames = _static_positions_and_names(
            fun, _as_tuple(static_argnums),
            (static_argnames,) if isinstance(static_argnames, str) else tuple(static_argnames))
        self.donate_argnums = _as_tuple(donate_argnums)
        self.backend, self.device = backend, device
        self.in_shardings, self.out_shardings = in_shardings, out_shardings
        self._cache: dict = {}
        self._hits = self._misses = 0
        functools.update_wrapper(self, fun)
        self.__name__ = f"jit({_name(fun)})"

    # -- the call ----------------------------------------------------------------------------------
    def _split(self, args, kwargs):
        n = len(args)
        static = tuple(sorted(i % n for i in self.static_argnums if -n <= i < n))
        dyn_args = tuple(a for i, a in enumerate(args) if i not in static)
        dyn_kwargs = {k: v for k, v in kwargs.items() if k not in self.static_argnames}
        skey = (static, tuple(_static_key(_hashable(self.fun, args[i], f"#{i} (static_argnums)")) for i in static),
                tuple((k, _static_key(_hashable(self.fun, v, f"{k!r} (static_argnames)")))
                      for k, v in sorted(kwargs.items()) if k in self.static_argnames))
        return static, dyn_args, dyn_kwargs, skey

    def _signature(self, args, kwargs):
        """(static positions, flat dynamic leaves, their structure, the cache key)."""
        if self.static_argnums or self.static_argnames:
            static, dyn_args, dyn_kwargs, skey = self._split(args, kwargs)
        else:
            static, dyn_args, dyn_kwargs, skey = (), args, kwargs, ()
        leaves, tree = tree_flatten((dyn_args, dyn_kwargs))
        try:
            avals = tuple((x.shape, x.dtype) for x in leaves)  # arrays (numpy, jax) and tracers
        except AttributeError:
            leaves = [np.asarray(x) if isinstance(x, _SCALARS) else x for x in leaves]
            avals = tuple((x.shape, x.dtype) for x in leaves) if all(is_array_like(x) for x in leaves) else None
        return static, leaves, tree, (tree, avals, skey)

    def __call__(self, *args, **kwargs):
        static, leaves, tree, key = self._signature(args, kwargs)
        entry = self._cache.get(key) if key[1] is not None else None
        if entry is None:
            entry = self._trace(args, kwargs, static, leaves, tree)
            if not any(isinstance(c, Tracer) for c in entry.consts):  # closing over an outer tracer: no reuse
                self._cache[key] = entry
        else:
            self._hits += 1
        if current_trace() is ROOT and not any(isinstance(x, Tracer) for x in leaves):
            outs = entry.run(*leaves)
            if debug.active:
                _debug_rerun(entry.jaxpr, entry.consts + list(leaves), self.backend, outs)
        else:
            outs = jit_p.bind(*entry.consts, *leaves, jaxpr=entry.jaxpr, name=_name(self.fun),
                              backend=self.backend)
        return tree_unflatten(entry.out_tree, outs)

    def _trace(self, args, kwargs, static, leaves, tree) -> _Entry:
        self._misses += 1
        what = self.__name__
        if not all(is_array_like(x) for x in leaves):
            check_leaves(leaves, what, self._leaf_names(args, kwargs, static))
        with name_scope(what), new_trace(with_values=False) as trace:
            trace.arg_names = lambda: self._leaf_names(args, kwargs, static)
            tracers = [trace.new_arg(aval_of(x)) for x in leaves]
            dyn_args, dyn_kwargs = tree_unflatten(tree, tracers)
            it = iter(dyn_args)
            full_args = [args[i] if i in static else next(it) for i in range(len(args))]
            full_kwargs = {**kwargs, **dyn_kwargs}
            out = self.fun(*full_args, **full_kwargs)
            out_leaves, out_tree = tree_flatten(out)
            check_leaves(out_leaves, f"output of {what}")
            closed = trace.to_jaxpr(out_leaves)
        closed = optimize(closed)
        j = closed.jaxpr
        body = Jaxpr([], j.constvars + j.invars, j.outvars, j.eqns)  # constants become leading inputs
        consts = [_snapshot(c) for c in closed.consts]  # as JAX: their values at trace time
        if self.backend == "numpy":
            run = _numpy_runner(body, consts)
        else:
            options = self._jit_options(args, static, len(leaves), out_tree)
            run = _xla_runner(body, consts, _name(self.fun), **options)
        return _Entry(body, consts, out_tree, run)

    def _leaf_names(self, args, kwargs, static) -> list[str]:
        return leaf_names(self.fun, args, [i for i in range(len(args)) if i not in static],
                          {k: v for k, v in kwargs.items() if k not in self.static_argnames})

    def _jit_options(self, args, static, n_leaves, out_tree) -> dict:
        """jax.jit's options for the flat program: donation and shardings, per leaf."""
        jax = _jax()
        options: dict = {}
        dyn = [i for i in range(len(args)) if i not in static]
        # leaves of each positional argument, in flattening order (keyword arguments come last)
        counts = [len(tree_flatten(args[i])[0]) for i in dyn]
        starts = np.cumsum([0] + counts)
        if self.donate_argnums:
            flat = []
            for i in self.donate_argnums:
                if i in dyn:
                    k = dyn.index(i)
                    flat += range(starts[k], starts[k + 1])
            options["donate_argnums"] = tuple(int(i) for i in flat)
        if self.device is not None:
            s = jax.sharding.SingleDeviceSharding(self.device)
            options["in_shardings"] = (s,) * n_leaves
            options["out_shardings"] = s
        if self.in_shardings is not None:
            per_arg = _per_argument(self.in_shardings, len(dyn), "in_shardings")
            flat = []
            for k, i in enumerate(dyn):
                flat += _expand(per_arg[k], args[i], f"in_shardings for argument {i}")
            flat += [None] * (n_leaves - len(flat))  # keyword arguments: unspecified
            options["in_shardings"] = tuple(flat)
        if self.out_shardings is not None:
            out_leaves = tree_unflatten(out_tree, [0] * out_tree.num_leaves)
            options["out_shardings"] = _expand(self.out_shardings, out_leaves, "out_shardings")  # a list, as outputs
        return options

    # -- inspection --------------------------------------------------------------------------------
    def lower(self, *args, **kwargs) -> "Lowered":
        """The traced program for these arguments: `.jaxpr` (our IR), `.as_text()` (StableHLO), `.compile()`."""
        static, leaves, tree, key = self._signature(args, kwargs)
        entry = self._cache.get(key) if key[1] is not None else None
        if entry is None:
            entry = self._trace(args, kwargs, static, leaves, tree)
            self._cache[key] = entry
        return Lowered(self, entry, leaves)

    def cache_info(self) -> JitCacheInfo:
        """Hits, misses (each a trace and a compilation) and size of the signature cache."""
        return JitCacheInfo(self._hits, self._misses, len(self._cache))

    def clear_cache(self) -> None:
        self._cache.clear()
        self._hits = self._misses = 0

    def __get__(self, obj, objtype=None):  # methods: bind like a function
        return self if obj is None else functools.partial(self, obj)

    def __repr__(self):
        return f"<{self.__name__} backend={self.backend}>"


class Lowered:
    """A jitted function traced for one signature: our IR, and (XLA backend) JAX's lowering of it."""

    def __init__(self, jitted: Jitted, entry: _Entry, leaves: list):
        self.jitted, self.entry, self._leaves = jitted, entry, leaves
        self.jaxpr = entry.jaxpr

    def _jax_lowered(self):
        if self.jitted.backend != "xla":
            raise ArgumentError("Lowered.as_text: this function runs with backend='numpy'; there is no StableHLO")
        jax = _jax()
        with jax.enable_x64(True):
            return self.entry.run.jax_function.lower(*self._leaves)

    def as_text(self) -> str:
        """The StableHLO module that XLA compiles."""
        return self._jax_lowered().as_text()

    def compile(self) -> Callable:
        """Compile now; the result is called like the jitted function."""
        if self.jitted.backend != "xla":
            return self.jitted
        jax = _jax()
        compiled = self._jax_lowered().compile()
        jitted, out_tree = self.jitted, self.entry.out_tree

        def call(*args, **kwargs):
            _, leaves, _, _ = jitted._signature(args, kwargs)
            with jax.enable_x64(True):
                return tree_unflatten(out_tree, compiled(*leaves))
        call.compiled = compiled
        return call

    def __str__(self):
        return str(self.jaxpr)


def _as_tuple(x) -> tuple:
    return (x,) if isinstance(x, int) else tuple(x)


def _per_argument(spec, n: int, what: str) -> list:
    """A sharding spec given for all arguments (one object) or per positional argument (a tuple)."""
    if isinstance(spec, (tuple, list)):
        if len(spec) != n:
            raise ArgumentError(f"jit: {what} has {len(spec)} entries for {n} positional (non-static) arguments",
                                "Give one sharding per argument, or one sharding for all of them.")
        return list(spec)
    return [spec] * n


def _expand(spec, tree, what: str) -> list:
    """One sharding per leaf of `tree`: `spec` is a sharding (or None) for all, or a matching pytree."""
    leaves = tree_flatten(tree)[0]
    if spec is None or not isinstance(spec, (tuple, list, dict)):
        return [spec] * len(leaves)
    try:
        full = optree.tree_broadcast_prefix(spec, tree, none_is_leaf=False)
    except ValueError as e:
        raise ArgumentError(f"jit: {what} does not match the structure of its value: {e}") from None
    return optree.tree_leaves(full, none_is_leaf=False)


def jit(fun: Callable | None = None, *, static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = (), donate_argnums: int | Sequence[int] = (),
        backend: str = "xla", device: Any = None, in_shardings: Any = None, out_shardings: Any = None):
    """Trace `fun` once per input signature (pytree structure, shapes, dtypes, static arguments), run the IR
    passes, and run it compiled: by XLA through `jax.jit` (backend="xla", results are `jax.Array`s that stay
    on the device) or by the numpy interpreter (backend="numpy").

    - static_argnums / static_argnames: arguments that are Python values, not arrays (hashable); each value
      gets its own trace.
    - donate_argnums: positional arguments whose buffers XLA may reuse for the outputs.
    - device: a `jax.Device` to run on (default: JAX's default device, a GPU when JAX has one).
    - in_shardings / out_shardings: `jax.sharding` objects, one for all or one per positional argument (or
      per output leaf), passed to `jax.jit` to run across devices.

    Usable as a decorator, with or without options: `@jit`, `@jit(static_argnums=1)`.
    """
    options = dict(static_argnums=static_argnums, static_argnames=static_argnames, donate_argnums=donate_argnums,
                   backend=backend, device=device, in_shardings=in_shardings, out_shardings=out_shardings)
    if fun is None:
        return lambda f: Jitted(f, **options)
    if not callable(fun):
        raise ArgumentError(f"jit: expected a function, got a {type(fun).__name__}")
    return Jitted(fun, **options)
