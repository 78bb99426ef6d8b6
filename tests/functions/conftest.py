"""Apps built by functions-framework from functions/main.py, as in production."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from deadman import runtime
from tests.support.apps import AppFactory, create_app


@pytest.fixture
def function_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[AppFactory]:
    """Build the functions-framework app for a target with the given environment."""

    def build(target: str, **env: str) -> FlaskClient:
        monkeypatch.setenv("FUNCTION_TARGET", target)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return create_app(target).test_client()

    yield build
    # Close the clients and producers the app made, as a worker exit would.
    runtime.shutdown()
