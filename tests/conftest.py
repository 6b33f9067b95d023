"""Test configuration: JAX in float64 for cross-checks; hypothesis profiles."""
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

jax.config.update("jax_enable_x64", True)

settings.register_profile("ci", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("slow", max_examples=500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", default=False,
                     help="run many more hypothesis examples (the 'slow' profile, as HYPOTHESIS_PROFILE=slow)")


def pytest_configure(config):
    # runs before the test modules are imported, so module-level example counts see the profile
    if config.getoption("--slow", default=False):
        settings.load_profile("slow")
