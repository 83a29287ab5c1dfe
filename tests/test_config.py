from pathlib import Path

import pytest

from builder.config import load_config
from knowledge.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "assistant.yaml").write_text(text)
    return tmp_path


def test_defaults_without_yaml(tmp_path):
    cfg = load_config(tmp_path)
    assert cfg.name == tmp_path.name
    assert cfg.knowledge.search_mode == "hybrid"
    assert cfg.builder.base_model == "smollm2-135m-instruct"


def test_values_are_read(tmp_path):
    cfg = load_config(write(tmp_path, "name: Clinic\nknowledge:\n  top_k: 7\nbuilder:\n  sft:\n    epochs: 1\n"))
    assert (cfg.name, cfg.knowledge.top_k, cfg.builder.sft.epochs) == ("Clinic", 7, 1)


def test_unknown_key_names_key_file_and_allowed(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, "knowledge:\n  chunk_sise: 100\n"))
    msg = str(exc.value)
    assert "knowledge.chunk_sise" in msg and "assistant.yaml" in msg and "chunk_size" in msg


def test_wrong_type_and_bad_choice_are_all_reported(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, "builder:\n  lora_r: many\ngeneration:\n  backend: vllm\n"))
    msg = str(exc.value)
    assert "builder.lora_r" in msg and "generation.backend" in msg and "'openai'" in msg


def test_yaml_syntax_error_names_line(tmp_path):
    with pytest.raises(ConfigError, match=r"assistant.yaml:\d+"):
        load_config(write(tmp_path, "knowledge:\n  top_k: [1,\n"))
