import pytest


@pytest.fixture(autouse=True)
def _on_the_stack(stack_env):
    """Every end-to-end test runs with the local stack's settings in the environment."""
    return stack_env


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.stack)
