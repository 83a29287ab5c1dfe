"""builder.precision: which arithmetic SFT and DPO use on this machine, and that bf16 autocast
really trains in bf16 on a CPU."""
import json
import math

import pytest

from builder import _common
from builder._common import cpu_has_bf16, trainer_precision_args, training_precision
from builder_fixtures import QA


@pytest.mark.parametrize(
    "cuda, gpu_bf16, cpu_bf16, setting, expected",
    [
        (False, False, True, "auto", "bf16-autocast"),  # a CPU with AVX512-BF16 or AMX
        (False, False, False, "auto", "fp32"),  # emulated bf16 would be slower
        (False, False, False, "bf16", "bf16-autocast"),  # asked for: autocast on any CPU
        (False, False, True, "fp32", "fp32"),
        (True, True, False, "auto", "bf16"),  # bf16 weights on a GPU that supports them
        (True, False, False, "auto", "fp32"),
        (True, True, False, "fp32", "fp32"),
    ],
)
def test_training_precision_follows_the_setting_and_the_machine(monkeypatch, cuda, gpu_bf16, cpu_bf16, setting, expected):
    monkeypatch.setattr(_common, "use_cuda", lambda: cuda)
    monkeypatch.setattr(_common, "use_bf16", lambda: gpu_bf16)
    monkeypatch.setattr(_common, "cpu_has_bf16", lambda: cpu_bf16)
    assert training_precision(setting) == expected


def test_cpu_bf16_is_read_from_the_cpu_flags(tmp_path):
    with_bf16, without = tmp_path / "a", tmp_path / "b"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 avx512_vnni\n")
    without.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw\n")
    assert cpu_has_bf16(with_bf16) and not cpu_has_bf16(without)
    assert not cpu_has_bf16(tmp_path / "missing")  # no /proc: fp32


def test_trainer_arguments_for_each_precision():
    assert trainer_precision_args("fp32") == {"bf16": False}
    assert trainer_precision_args("bf16") == {"bf16": True}
    assert trainer_precision_args("bf16-autocast") == {"bf16": True, "use_cpu": True}


def test_bf16_autocast_trains_its_matrix_products_in_bf16_on_a_cpu(tmp_path, tiny_model_dir, monkeypatch):
    """The real trainer with builder.precision bf16 on a CPU: fp32 weights, bf16 linear outputs
    during training, a finite loss and a saved adapter."""
    import torch
    from transformers import TrainerCallback

    from builder import run_sft
    from builder.config import TailorConfig

    if torch.cuda.is_available():
        pytest.skip("CPU autocast path")
    cfg = TailorConfig.model_validate({"builder": {"precision": "bf16", "lora_r": 4, "lora_alpha": 8,
                                                   "sft": {"max_length": 256, "checkpoint_steps": 100}}})
    rows = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a in QA]
    seen: dict = {}

    class Watch(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            layer = next(m for n, m in model.named_modules() if n.endswith("q_proj.base_layer"))
            seen["weight"] = layer.weight.dtype
            layer.register_forward_hook(lambda mod, inp, out: None if "output" in seen else seen.update(output=out.dtype))

    result = run_sft(tiny_model_dir, rows, cfg, tmp_path / "adapter", tmp_path / "ckpt", callbacks=[Watch()])
    assert result["precision"] == "bf16-autocast"
    assert seen == {"weight": torch.float32, "output": torch.bfloat16}
    assert math.isfinite(result["train_loss"]) and result["steps"] >= 1
    assert json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["r"] == 4


def test_the_eta_remembers_a_rate_per_arithmetic(monkeypatch, tmp_path):
    """A rate measured in fp32 is not the first estimate of a bf16-autocast build, and back."""
    from types import SimpleNamespace

    from builder import _build
    from builder.config import TailorConfig

    monkeypatch.setattr("chat.models.tailor_home", lambda: tmp_path)
    monkeypatch.setattr(_build, "use_cuda", lambda: False)
    b = SimpleNamespace(cfg=TailorConfig())
    monkeypatch.setattr(_build, "training_precision", lambda setting: "fp32")
    assert _build._tokens_per_s_estimate(b) == (_build.DEFAULT_CPU_TOKENS_PER_S, "a first guess for 2 CPU cores")
    _build._remember_rate(b, 150.0)
    rate, source = _build._tokens_per_s_estimate(b)
    assert rate == 150.0 and source.startswith("the last build's rate on this machine")
    monkeypatch.setattr(_build, "training_precision", lambda setting: "bf16-autocast")
    assert _build._tokens_per_s_estimate(b)[0] > _build.DEFAULT_CPU_TOKENS_PER_S  # not the fp32 figure
    _build._remember_rate(b, 207.0)
    assert _build._tokens_per_s_estimate(b)[0] == 207.0
    assert json.loads((tmp_path / "throughput.json").read_text()) == {
        "smollm2-135m-instruct:cpu": 150.0, "smollm2-135m-instruct:cpu:bf16-autocast": 207.0}
