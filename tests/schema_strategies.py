"""Hypothesis strategies for the JSON-Schema subset our OpenAPI description uses.

(hypothesis-jsonschema would do this, but its 0.23 release breaks on current hypothesis.)
Only what pydantic emits for our request models is supported; anything else raises, so a new
schema feature cannot silently go unfuzzed.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def from_schema(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        return st.deferred(lambda: from_schema(components["schemas"][name], components))
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {k: from_schema(v, components) for k, v in properties.items() if k in required},
            optional={k: from_schema(v, components) for k, v in properties.items() if k not in required},
        )
    if kind == "array":
        return st.lists(from_schema(schema["items"], components), max_size=8)
    if kind == "string":
        return st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 40))
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "boolean":
        return st.booleans()
    raise NotImplementedError(f"schema feature not supported by the fuzzer: {schema}")
