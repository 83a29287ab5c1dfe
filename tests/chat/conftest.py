"""Chat fixtures: a small clinic corpus indexed for real (once per session), a fabricated
build folder around the tiny model, and a fake knowledge base for tests that need exact
similarities (each behaviour tested with the fake is also tested against the real index)."""
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from chat import Assistant, GenerationConfig, Manifest, write_manifest
from chat.manifest import DeclineCalibration
from knowledge import Chunk, Hit

from chat_fixtures import CORPUS, FakeKB, make_build, write_corpus  # noqa: E402,F401


@pytest.fixture(scope="session")
def indexed_folder(tmp_path_factory) -> Path:
    """An assistant folder with the corpus above and a real FAISS + BM25 index in build/index."""
    from knowledge import build_index

    folder = write_corpus(tmp_path_factory.mktemp("clinic"))
    build_index(folder / "docs", folder / "build" / "index", progress=False)
    return folder


@pytest.fixture(scope="session")
def real_kb(indexed_folder):
    from knowledge import load_index

    return load_index(indexed_folder / "build" / "index")


@pytest.fixture
def built_folder(tmp_path, indexed_folder, tiny_model_dir) -> Path:
    return make_build(tmp_path / "assistant", indexed_folder, tiny_model_dir)


@pytest.fixture
def fake_kb():
    return FakeKB({"hours.md": 0.8, "fees.md": 0.5, "parking.md": 0.2})


@pytest.fixture
def tiny_assistant(tiny_model_dir, fake_kb):
    """Retrieval-only shape (base, base+rag) over the tiny random model; answers are noise,
    so tests assert on mechanics only."""
    return Assistant(name="Test clinic", base_model=tiny_model_dir, kb=fake_kb,
                     generation=GenerationConfig(max_new_tokens=8), retrieval={"k": 3})
