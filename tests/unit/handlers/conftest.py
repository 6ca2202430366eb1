"""Fixtures of the fleet and handlers tests (defined once, in tests.unit.handlers.support)."""

from tests.unit.handlers.support import aws, batch, env, resp_server  # noqa: F401 - pytest fixtures
