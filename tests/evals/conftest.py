"""Fixtures for the evals tests; the fakes themselves live in evals_fakes.py."""
from pathlib import Path

import pytest

from evals_fakes import BagOfWordsEmbedder


@pytest.fixture
def embedder():
    return BagOfWordsEmbedder()


@pytest.fixture
def folder(tmp_path) -> Path:
    """An assistant folder with an empty docs/ and no config (defaults apply)."""
    (tmp_path / "docs").mkdir()
    return tmp_path
