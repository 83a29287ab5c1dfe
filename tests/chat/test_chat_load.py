"""Assistant.load: a complete build, retrieval-only before a build, and every broken state."""
import json
import shutil

import pytest

from builder.config import load_config
from chat import Assistant, read_manifest
from chat._assistant import FALLBACK_DECLINE_THRESHOLD
from chat.prompt import PROMPT_FORMAT_VERSION
from knowledge.errors import BuildError, ConfigError

from chat_fixtures import make_build, write_corpus


def test_build_has_all_variants_defaults_to_tuned_rag_and_records_build_id(built_folder):
    assistant = Assistant.load(built_folder)
    _, build_id = read_manifest(built_folder / "build")
    assert assistant.variants == ["extract", "base", "base+rag", "tuned", "tuned+rag"] and assistant.default_variant == "tuned+rag"
    assert (assistant.threshold, assistant.threshold_method) == (0.3, "test calibration")
    answer = assistant.answer("When do you open on Saturday?")
    assert answer.variant == "tuned+rag" and answer.build_id == build_id and len(answer.chunk_ids) == 3
    assert answer.hits[0].chunk.source == "hours.md" and answer.timings["new_tokens"] <= 6
    assert Assistant.load(built_folder / "build").build_id == build_id  # the build folder works too


def test_tuned_and_base_weights_each_load_once(built_folder, monkeypatch):
    from chat import _backends

    monkeypatch.setattr(_backends, "_MODELS", {})
    assistant = Assistant.load(built_folder)
    for variant in ("tuned", "tuned+rag", "base", "base+rag", "tuned"):
        assistant.answer("When do you open?", variant=variant)
    assert sorted(key[0] for key in _backends._MODELS) == sorted([assistant.base_model, str(built_folder / "build" / "model")])


def test_retrieval_only_before_a_build(indexed_folder):
    assistant = Assistant.load(indexed_folder)
    assert assistant.variants == ["extract", "base", "base+rag"] and assistant.default_variant == "base+rag"
    assert assistant.threshold == FALLBACK_DECLINE_THRESHOLD and "fallback" in assistant.threshold_method
    assert assistant.build_id == "retrieval-only" and assistant.base_model.endswith("smollm2-135m-instruct")


def test_assistant_yaml_guardrails_apply_without_a_rebuild(built_folder):
    (built_folder / "assistant.yaml").write_text(
        "chat:\n  disclaimer: Not medical advice.\n  escalation:\n    - name: emergency\n      patterns: ['chest pain']\n      message: Call 112.\n"
    )
    assistant = Assistant.load(built_folder, load_config(built_folder).serving())  # as the CLI and the app pass it
    assert assistant.answer("chest pain!").escalation == "emergency"
    assert assistant.answer("When do you open?").text.endswith("Not medical advice.")
    assert assistant.generation.max_new_tokens == 6  # sampling stays as built


def test_missing_folder_and_unbuilt_folder_say_run_tailor_build(tmp_path):
    with pytest.raises(BuildError, match="tailor build"):
        Assistant.load(tmp_path / "nope")
    with pytest.raises(BuildError, match=r"not built yet.*tailor build"):
        Assistant.load(write_corpus(tmp_path / "fresh"))


def test_half_written_builds_say_run_tailor_build(tmp_path, indexed_folder, tiny_model_dir):
    folder = make_build(tmp_path / "a", indexed_folder, tiny_model_dir)
    (folder / "build" / "manifest.json").unlink()  # interrupted before the manifest (written last)
    with pytest.raises(BuildError, match=r"has model/ but no manifest.json.*tailor build"):
        Assistant.load(folder)

    folder = make_build(tmp_path / "b", indexed_folder, tiny_model_dir)
    shutil.rmtree(folder / "build" / "model")
    with pytest.raises(BuildError, match=r"manifest names this model folder but it is missing.*tailor build"):
        Assistant.load(folder)

    folder = make_build(tmp_path / "c", indexed_folder, tiny_model_dir)
    (folder / "build" / "model" / "config.json").unlink()
    with pytest.raises(BuildError, match=r"incomplete.*tailor build"):
        Assistant.load(folder).answer("hi", variant="tuned")

    folder = make_build(tmp_path / "d", indexed_folder, tiny_model_dir)
    (folder / "build" / "manifest.json").write_text('{"name": "x", ')
    with pytest.raises(BuildError, match=r"not valid JSON.*tailor build"):
        Assistant.load(folder)


def test_manifest_from_another_prompt_format_is_refused(tmp_path, indexed_folder, tiny_model_dir):
    folder = make_build(tmp_path / "a", indexed_folder, tiny_model_dir)
    path = folder / "build" / "manifest.json"
    data = json.loads(path.read_text())
    data["prompt_format_version"] = PROMPT_FORMAT_VERSION + 1
    path.write_text(json.dumps(data))
    with pytest.raises(BuildError, match=rf"prompt format version {PROMPT_FORMAT_VERSION + 1}.*tailor build"):
        Assistant.load(folder)


def test_openai_backend_without_url_is_a_config_error(tmp_path, indexed_folder, tiny_model_dir):
    folder = make_build(tmp_path / "a", indexed_folder, tiny_model_dir)
    (folder / "assistant.yaml").write_text("generation:\n  backend: openai\n")
    with pytest.raises(ConfigError, match="generation.url"):
        Assistant.load(folder, load_config(folder).serving())


def test_the_trained_context_length_reaches_the_tuned_variants(tmp_path, indexed_folder, tiny_model_dir):
    """New manifests record retrieval.tuned_prompt_tokens; older ones carry sft.max_length in the record."""
    recorded = make_build(tmp_path / "new", indexed_folder, tiny_model_dir, retrieval={"k": 3, "tuned_prompt_tokens": 512})
    assert Assistant.load(recorded).retrieval["tuned_prompt_tokens"] == 512
    older = make_build(tmp_path / "old", indexed_folder, tiny_model_dir, record={"hyperparameters": {"sft": {"max_length": 640}}})
    assert Assistant.load(older).retrieval["tuned_prompt_tokens"] == 640
