from __future__ import annotations

from collections.abc import Callable

import pytest

import gli


@pytest.fixture(params=["rust", "python"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_graph(backend: str) -> Callable[..., gli.Graph]:
    def make(directed: bool = True) -> gli.Graph:
        return gli.Graph(directed=directed, backend=backend)

    return make
