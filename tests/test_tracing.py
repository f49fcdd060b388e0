"""gli.enable_tracing / GLI_TRACE: calls and predicate batches reach logging."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

import gli


@pytest.fixture
def traced(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG, logger="gli")
    gli.enable_tracing()
    try:
        yield caplog
    finally:
        gli.disable_tracing()


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "gli"]


def test_calls_and_batches_are_logged(traced: pytest.LogCaptureFixture) -> None:
    assert gli.tracing_enabled()
    g = gli.Graph()
    g.batch_add_nodes(range(10))
    g.add_edge(1, 2, w=1)
    g.has_node(3)
    g.node_count()
    g.filter_nodes(lambda n, a: n % 2 == 0, batch_size=4)
    got = messages(traced)
    assert any(m.startswith("batch_add_nodes(items=10) ") and m.endswith("µs") for m in got)
    assert any(m.startswith("add_edge(attrs=1) ") for m in got)
    assert any(m.startswith("has_node() ") for m in got)
    assert any(m.startswith("node_count() ") for m in got)
    crossings = [m for m in got if "predicate batch" in m]
    assert len(crossings) == 3 and "items=4" in crossings[0] and "items=2" in crossings[2]
    assert all(r.levelno == logging.DEBUG for r in traced.records if r.name == "gli")


def test_disabled_tracing_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="gli")
    gli.enable_tracing("INFO")
    gli.Graph().add_node(1)
    gli.disable_tracing()
    assert [r.levelno for r in caplog.records if r.name == "gli"] == [logging.INFO] * 2  # new(), add_node()
    caplog.clear()
    gli.Graph().add_node(1)
    assert not gli.tracing_enabled() and messages(caplog) == []


def test_a_handler_calling_back_into_gli_does_not_recurse(traced: pytest.LogCaptureFixture) -> None:
    g = gli.Graph()
    g.add_node(1)
    seen: list[str] = []

    class Reentrant(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())
            g.has_node(1)  # would log again, forever, without the guard

    h = Reentrant()
    logging.getLogger("gli").addHandler(h)
    try:
        g.node_count()
    finally:
        logging.getLogger("gli").removeHandler(h)
    assert len(seen) == 1 and seen[0].startswith("node_count()")


def test_bad_levels() -> None:
    with pytest.raises(ValueError, match="unknown logging level"):
        gli.enable_tracing("LOUD")
    with pytest.raises(TypeError):
        gli.enable_tracing(1.5)  # type: ignore[arg-type]
    assert not gli.tracing_enabled()


def test_gli_trace_environment_variable() -> None:
    code = "import gli; g = gli.Graph(); g.add_node('x'); g.filter_nodes(lambda n, a: True)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={**os.environ, "GLI_TRACE": "1"},
    )
    assert out.returncode == 0, out.stderr
    assert "add_node(attrs=0) " in out.stderr and "filter_nodes predicate batch" in out.stderr


@pytest.mark.parametrize(
    ("value", "on", "warned"),
    [("on", True, False), ("TRUE", True, False), ("info", True, False), ("20", True, False),
     ("off", False, False), ("No", False, False), ("", False, False), ("loud", False, True)],
)
def test_gli_trace_values_never_break_the_import(value: str, on: bool, warned: bool) -> None:
    code = "import gli; print(gli.tracing_enabled())"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
        env={**os.environ, "GLI_TRACE": value},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(on)
    assert ("GLI_TRACE='loud' is not" in out.stderr) == warned, out.stderr


def test_disabling_gives_the_logger_its_level_back() -> None:
    logger = logging.getLogger("gli")
    before = logger.level
    gli.enable_tracing("DEBUG")
    assert logger.level == logging.DEBUG
    gli.disable_tracing()
    assert logger.level == before
