"""docs/write-an-adapter.md cannot rot: its example adapter and test are run from the page itself.

The page's code blocks that start with ``# file: <path>`` are executed: the adapter module is
loaded as ``acme_wardwatch.spotcheck``, and the test class it defines is collected here, so the
whole conformance suite runs against the documented example. Every other Python block must compile,
and the entry-point snippet must name the example's class.
"""

from __future__ import annotations

import re
import sys
import tomllib
import types
from pathlib import Path

import pytest

from wardwatch.streams.adapters import registry
from wardwatch.streams.adapters.base import AdapterContext

PAGE = Path(__file__).resolve().parents[2] / "docs" / "write-an-adapter.md"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def _blocks(language: str) -> list[str]:
    return [code for lang, code in _BLOCK.findall(PAGE.read_text(encoding="utf-8")) if lang == language]


def _file_blocks() -> dict[str, str]:
    found = {}
    for code in _blocks("python"):
        first = code.splitlines()[0]
        if first.startswith("# file: "):
            found[first.removeprefix("# file: ").strip()] = code
    return found


def _load_example() -> tuple[types.ModuleType, type]:
    files = _file_blocks()
    source = files["acme_wardwatch/spotcheck.py"]
    package = types.ModuleType("acme_wardwatch")
    package.__path__ = []
    module = types.ModuleType("acme_wardwatch.spotcheck")
    module.__file__ = f"{PAGE}#acme_wardwatch/spotcheck.py"
    sys.modules["acme_wardwatch"], sys.modules["acme_wardwatch.spotcheck"] = package, module
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    namespace = {"__name__": __name__}
    exec(compile(files["tests/adapters/test_spotcheck.py"], f"{PAGE}#tests/adapters/test_spotcheck.py", "exec"), namespace)
    return module, namespace["TestSpotCheck"]


example, TestSpotCheck = _load_example()  # collected: the conformance suite on the page's adapter


def test_the_page_has_an_adapter_its_test_and_an_entry_point() -> None:
    assert set(_file_blocks()) == {"acme_wardwatch/spotcheck.py", "tests/adapters/test_spotcheck.py"}
    assert _blocks("toml"), "the entry-point snippet is missing"


def test_every_python_block_compiles() -> None:
    for i, code in enumerate(_blocks("python")):
        compile(code, f"{PAGE}#block{i}", "exec")


def test_entry_point_snippet_names_the_example_class() -> None:
    (snippet,) = _blocks("toml")
    group = tomllib.loads(snippet)["project"]["entry-points"][registry.ENTRY_POINT_GROUP]
    assert group == {"acme-spotcheck": "acme_wardwatch.spotcheck:SpotCheckAdapter"}
    target = group["acme-spotcheck"]
    assert registry._load(target, "acme-spotcheck") is example.SpotCheckAdapter  # what the registry does with it


def test_example_registers_by_name() -> None:
    cls = example.SpotCheckAdapter
    registry.register_adapter(cls)
    try:
        assert registry.get_adapter_class("acme-spotcheck") is cls
        assert "acme-spotcheck" in [i.name for i in registry.available_adapters()]
    finally:
        registry._REGISTERED.pop("acme-spotcheck", None)


def test_a_bad_line_is_a_problem_and_the_rest_go_through() -> None:
    adapter = example.SpotCheckAdapter(AdapterContext(secret=b"0123456789abcdef"))
    result = adapter.parse(b"MRN-1,07,2026-03-01T10:15:00Z,8867-4,72,/min\nMRN-1,07,2026-03-01T10:16:00Z,8867-4,abc,/min\n")
    assert [r.value for r in result.records] == [72.0]
    assert [p.field for p in result.problems] == ["line 2"]


@pytest.fixture(autouse=True, scope="module")
def _forget_the_example_modules() -> object:
    yield None
    for name in ("acme_wardwatch.spotcheck", "acme_wardwatch"):
        sys.modules.pop(name, None)
