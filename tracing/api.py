"""make_jaxpr and pytree helpers shared by transformations."""
from __future__ import annotations

import inspect
from typing import Any, Callable, Sequence

import optree

from .core import is_array_like, new_trace
from .errors import ArgumentError
from .ir import ClosedJaxpr, aval_of
from .passes import dce_closed, optimize as run_passes


def tree_flatten(tree: Any):
    """Leaves and structure of a pytree (tuple, list, dict, namedtuple, None) via optree."""
    return optree.tree_flatten(tree, none_is_leaf=False)


def tree_unflatten(treedef, leaves):
    """Rebuild a pytree from its structure and leaves."""
    return optree.tree_unflatten(treedef, leaves)


def check_leaves(leaves: Sequence, what: str, names: Sequence[str] | None = None) -> None:
    """Raise an ArgumentError naming the first leaf that is not an array or a scalar."""
    for i, x in enumerate(leaves):
        if not is_array_like(x):
            who = names[i] if names else f"leaf {i}"
            raise ArgumentError(
                f"{what}: {who} is a {type(x).__name__}, not an array or a scalar",
                "Pass numpy arrays, Python or numpy scalars, or tuples/lists/dicts of them; "
                "mark other arguments static or close over them.")


def arg_name(fun: Callable, i: int) -> str:
    """The name of fun's i-th positional parameter (or `#i`), for error messages."""
    try:
        params = list(inspect.signature(fun).parameters)
    except (TypeError, ValueError):
        params = []
    return params[i] if i < len(params) else f"#{i}"


def leaf_names(fun: Callable, args: Sequence, argnums: Sequence[int] | None = None,
               kwargs: dict | None = None) -> list[str]:
    """`argument params['W']` for every leaf of the chosen arguments (then of `kwargs`), in flattening order."""
    names = []
    for i in (range(len(args)) if argnums is None else argnums):
        paths, _, _ = optree.tree_flatten_with_path(args[i], none_is_leaf=False)
        names += [f"argument {arg_name(fun, i)}" + _path(path) for path in paths]
    if kwargs:
        paths, _, _ = optree.tree_flatten_with_path(kwargs, none_is_leaf=False)
        names += [f"argument {path[0]}" + _path(path[1:]) for path in paths]
    return names


def _path(path) -> str:
    return "".join(f"[{p!r}]" for p in path)


def check_args(fun: Callable, args: Sequence, what: str, argnums: Sequence[int] | None = None) -> None:
    """An ArgumentError naming the argument (and pytree path) of the first leaf that is not an array."""
    chosen = args if argnums is None else [args[i] for i in argnums]
    leaves, _ = tree_flatten(tuple(chosen))
    if not all(is_array_like(x) for x in leaves):
        check_leaves(leaves, what, leaf_names(fun, args, argnums))


def make_jaxpr(fun: Callable, optimize: bool = True) -> Callable[..., ClosedJaxpr]:
    """`make_jaxpr(f)(*args)` traces f on the shapes and dtypes of args and returns its ClosedJaxpr,
    after the passes (constant folding, algebraic simplification, CSE, DCE); `optimize=False` gives the
    program as recorded, less its dead equations."""

    def traced(*args) -> ClosedJaxpr:
        check_args(fun, args, f"make_jaxpr({getattr(fun, '__name__', 'fun')})")
        leaves, tree = tree_flatten(args)
        with new_trace(with_values=False) as trace:
            trace.arg_names = lambda: leaf_names(fun, args)
            tracers = [trace.new_arg(aval_of(x)) for x in leaves]
            out = fun(*tree_unflatten(tree, tracers))
            out_leaves, _ = tree_flatten(out)
            check_leaves(out_leaves, f"output of {getattr(fun, '__name__', 'fun')}")
            closed = trace.to_jaxpr(out_leaves)
        return run_passes(closed) if optimize else dce_closed(closed)

    traced.__name__ = f"make_jaxpr({getattr(fun, '__name__', 'fun')})"
    return traced
