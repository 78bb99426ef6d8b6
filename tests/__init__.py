"""The test suite. Fixtures live in the conftest files, everything the test modules
share in tests/support."""

import pytest

# The helpers in tests/support assert too: rewrite them, as pytest does test
# modules, so that a failing check there shows its values.
pytest.register_assert_rewrite("tests.support")
