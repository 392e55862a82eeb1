"""Hypothesis for the unit tests: the examples' generation is timed against a loaded CI machine
(two pytest workers on two cores, the platform's servers beside them), where its too-slow
health check and per-example deadline fire on load, not on a slow strategy."""

from hypothesis import HealthCheck, settings

settings.register_profile("ci_tools", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci_tools")
