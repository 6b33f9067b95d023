"""debug_nans / debug_infs: the first operation that makes a NaN (or an infinity) out of operands that had
none raises `NonFiniteError`, naming the operation, its operands and the user's line.

Eagerly (and in grad's, jvp's and vmap's eager passes, forward and backward) every operation runs through
the root trace, which calls `check` after each one when a switch is on. A compiled program (jit) runs whole;
when its outputs hold a NaN its inputs did not, the executor runs it again equation by equation and calls
`check` on each, with the equation's own source (see compiler.py), as JAX does.

The switches: `debug_nans(True)` is a context manager (this thread, this block) and `set_global(...)` the
process-wide default (`mg.config.update("debug_nans", True)`).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Sequence

import numpy as np

from .errors import MinigradError, source_line, user_line
from .source import emitting_for

_GLOBAL = {"nans": False, "infs": False}
_LOCAL: ContextVar = ContextVar("minigrad_debug", default=None)  # None, or this thread's (nans, infs)
_blocks = 0  # debug blocks open now, in every thread
_lock = threading.Lock()
active = False  # a switch is on or a block is open somewhere: the root trace's one cheap test per operation


class NonFiniteError(MinigradError, FloatingPointError):
    """With debug_nans (debug_infs) on, an operation turned operands without NaN (infinities) into a NaN
    (an infinity)."""

    def __init__(self, message: str, hint: str, where: str):
        super().__init__(message, hint, where=where)


def _update_active() -> None:
    global active
    active = _GLOBAL["nans"] or _GLOBAL["infs"] or _blocks > 0


def set_global(which: str, on: bool) -> None:
    """Turn a switch ("nans" or "infs") on or off for every thread (where no block says otherwise)."""
    _GLOBAL[which] = bool(on)
    _update_active()


def switches() -> tuple[bool, bool]:
    """(debug_nans, debug_infs) as they are now in this thread."""
    local = _LOCAL.get()
    return local if local is not None else (_GLOBAL["nans"], _GLOBAL["infs"])


@contextmanager
def _block(nans: bool | None, infs: bool | None) -> Iterator[None]:
    global _blocks
    now = switches()
    token = _LOCAL.set((now[0] if nans is None else bool(nans), now[1] if infs is None else bool(infs)))
    with _lock:  # counted over threads: one thread leaving its block does not switch off another's
        _blocks += 1
        _update_active()
    try:
        yield
    finally:
        _LOCAL.reset(token)
        with _lock:
            _blocks -= 1
            _update_active()


def debug_nans(enable: bool = True):
    """`with debug_nans():` the first operation that makes a NaN from operands without one raises
    NonFiniteError (a FloatingPointError) naming it and the user's line; `debug_nans(False)` turns it off
    in the block."""
    return _block(enable, None)


def debug_infs(enable: bool = True):
    """As `debug_nans`, for infinities made from finite operands (log(0), 1/0, exp overflow)."""
    return _block(None, enable)


def _float_arrays(xs: Sequence) -> list:
    out = []
    for x in xs:
        a = np.asarray(x)
        out.append(a if a.dtype.kind == "f" else None)
    return out


def problem(ins: Sequence, outs: Sequence) -> str | None:
    """"NaN" or "inf" when, with the switches of this thread, these outputs hold one the inputs had none
    of; else None. (Checked only when `active`.)"""
    nans, infs = switches()
    if not (nans or infs):
        return None
    fouts = [o for o in _float_arrays(outs) if o is not None]
    if not fouts:
        return None
    fins = [a for a in _float_arrays(ins) if a is not None]
    if nans and any(np.isnan(o).any() for o in fouts) and not any(np.isnan(a).any() for a in fins):
        return "NaN"
    if infs and any(np.isinf(o).any() for o in fouts) and all(np.isfinite(a).all() for a in fins):
        return "inf"
    return None


def _summary(a) -> str:
    a = np.asarray(a)
    text = np.array2string(a, threshold=8, edgeitems=2, precision=4, separator=", ").replace("\n", "")
    return f"{a.dtype.name}{list(a.shape)} {text}"


def _at(a, index: tuple, shape: tuple):
    """The operand's value that entered output element `index` (numpy broadcasting), or None."""
    a = np.asarray(a)
    try:
        return np.broadcast_to(a, shape)[index]
    except ValueError:
        return None


def check(prim, ins: Sequence, outs: Sequence, source=None) -> None:
    """Raise NonFiniteError if `prim` made a NaN/inf its operands `ins` did not hold (see `problem`).
    `source`: the equation's SourceInfo (op-by-op runs of compiled programs); None: the current line."""
    what = problem(ins, outs)
    if what is None:
        return
    bad = np.isnan if what == "NaN" else np.isinf
    k, out = next((k, np.asarray(o)) for k, o in enumerate(outs)
                  if np.asarray(o).dtype.kind == "f" and bad(np.asarray(o)).any())
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad(out))), out.shape)) if out.ndim else ()
    operands = "; ".join(f"x{i}: {_summary(a)}" for i, a in enumerate(ins))
    there = [(i, _at(a, index, out.shape)) for i, a in enumerate(ins)]
    there_text = ", ".join(f"x{i}={v.item()!r}" for i, v in there if v is not None and np.ndim(v) == 0)
    first = f"first at output{'' if len(outs) == 1 else f' {k}'} index {index}: {out[index].item()!r}"
    if there_text:
        first += f" from {there_text}"
    origin = "finite operands" if what == "inf" else "operands without NaN"
    # the equation's source; eagerly, a backward equation's source is the one its rule runs on behalf of
    src = source if source is not None else emitting_for()
    forward = None if src is None else src.forward
    where = user_line() if source is None else source_line(source)
    if forward is not None:
        fwd_at = forward.source.location() or "an unknown line"
        msg = (f"debug_{'nans' if what == 'NaN' else 'infs'}: in the backward pass of `{forward.prim.name}` "
               f"at {fwd_at}: `{prim.name}` in its rule made {what} from {origin}\n  {first}\n  operands: {operands}")
        hint = (f"The forward value of {forward.prim.name} is fine but its derivative is not at these values "
                "(sqrt or log at 0, x ** 0.5 at 0, a division by a value that reaches 0); keep the operand "
                "away from that point, e.g. mnp.where(x > 0, x, 1.0) before the operation, then select the "
                "result (the double-where trick).")
    else:
        msg = (f"debug_{'nans' if what == 'NaN' else 'infs'}: `{prim.name}` made {what} from {origin}\n  "
               f"{first}\n  operands: {operands}")
        hint = ("Keep the operand in the operation's domain (mnp.maximum(x, 1e-12) before a log, a "
                "clip before exp), or turn the switch off to see where the value goes.")
    raise NonFiniteError(msg, hint, where)
