from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture
def umask_027() -> Iterator[int]:
    """A umask other than the usual 022, to see that outputs follow it."""
    old = os.umask(0o027)
    try:
        yield 0o027
    finally:
        os.umask(old)
