from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient

from router.api import create_app

if TYPE_CHECKING:
    from collections.abc import Iterator

    from router.registry.registry import ModelRegistry
    from router.settings import Settings


@pytest.fixture
def client(settings: Settings, registry: ModelRegistry) -> Iterator[TestClient]:
    with TestClient(create_app(settings, registry), raise_server_exceptions=False) as client:
        yield client
