"""Fixtures and set-up shared by every test package."""

# Import Hypothesis while the interpreter is in a plain state. Otherwise its pytest plugin
# imports it first in the terminal summary, after Faust's test context has run, and CPython
# 3.11.7 then fails to compile it with "SystemError: AST constructor recursion depth
# mismatch" (python/cpython gh-106905), though every test passed.
import hypothesis  # noqa: F401

# Test deployments' topics and consumer groups leave the broker when their tests pass.
pytest_plugins = ["tests.broker_cleanup"]
