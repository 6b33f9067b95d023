"""`mg.config`: the process-wide switches, with JAX's names (`jax.config.update("jax_debug_nans", True)`
ports by renaming `jax` to `mg`)."""
from __future__ import annotations

from tracing import ArgumentError, debug


class Config:
    """`config.update(name, value)` and `config.<name>`; names with or without JAX's `jax_` prefix.

    - `debug_nans`, `debug_infs`: see `mg.debug_nans` (a block of code) and tracing/debug.py.
    - `enable_x64`: always on here (numpy's dtypes: float64 stays float64), so only True is accepted.
    """

    _NAMES = ("debug_nans", "debug_infs", "enable_x64")

    def _name(self, name: str) -> str:
        key = name[4:] if name.startswith("jax_") else name
        if key not in self._NAMES:
            raise ArgumentError(f"config: no option {name!r}",
                                f"The options are {', '.join(self._NAMES)} (JAX's jax_ prefix is accepted).")
        return key

    def update(self, name: str, value) -> None:
        key = self._name(name)
        if key == "enable_x64":
            if not value:
                raise ArgumentError("config: enable_x64 cannot be turned off: arrays keep numpy's dtypes "
                                    "(float64 stays float64)", "Cast to float32 with .astype(np.float32) where "
                                    "you want single precision.")
            return
        debug.set_global(key[len("debug_"):], value)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        key = self._name(name)
        if key == "enable_x64":
            return True
        nans, infs = debug.switches()
        return nans if key == "debug_nans" else infs


config = Config()
