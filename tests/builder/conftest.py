"""Builder fixtures: a small assistant folder (documents, conversations, preferences) around the
tiny model, built for real once per session where tests only read the result.

Conversations answer with sentences copied from the documents, so RAFT's oracle chunk is
found for them, as it is for real users' grounded answers. Training settings are tiny
(256-token rows, one epoch, one DPO learning rate) so a whole build takes seconds.
"""
import shutil
from pathlib import Path

import pytest

from builder_fixtures import make_folder


@pytest.fixture(scope="session")
def built(tmp_path_factory, tiny_model_dir):
    """(folder, summary) of one complete tiny build, shared by the tests that only read it."""
    from builder import build
    from builder.config import load_config

    folder = make_folder(tmp_path_factory.mktemp("built") / "harbor", tiny_model_dir)
    summary = build(folder, load_config(folder), quiet=True)
    return folder, summary


@pytest.fixture
def built_copy(built, tmp_path) -> Path:
    """A private copy of the built folder, for tests that change it."""
    folder, _ = built
    dest = tmp_path / "harbor"
    shutil.copytree(folder, dest)
    return dest


@pytest.fixture(scope="session")
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)
