"""The benchmarks' own tests (``pytest benchmarks``) use the test suite's fake LLM fixture."""

from tests.conftest import fake_llm  # noqa: F401 - a fixture, found by pytest by name
