"""bm25s imports JAX when it is installed; Tailor keeps JAX off the GPU unless the user says otherwise."""
import os
import subprocess
import sys

CODE = "import os; from knowledge._store import build_bm25; build_bm25(['a b', 'c d']); print(os.environ['JAX_PLATFORMS'], os.environ['XLA_PYTHON_CLIENT_PREALLOCATE'])"


def run(env_extra: dict) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_PLATFORMS", "XLA_PYTHON_CLIENT_PREALLOCATE")}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_importing_bm25s_keeps_jax_off_the_gpu():
    assert run({}) == "cpu false"


def test_the_users_jax_settings_win():
    assert run({"JAX_PLATFORMS": "cuda", "XLA_PYTHON_CLIENT_PREALLOCATE": "true"}) == "cuda true"
