"""Fixtures of the fleet and handlers tests (defined once, in tests.support.handlers)."""

from tests.support.handlers import aws, batch, env, resp_server  # noqa: F401 - pytest fixtures
