"""The same rows give the same model file, byte for byte, whatever the CPU's SIMD kernels.

The shipped model's documented training reproduced its trees but not its `model_version` on another
machine: the Platt slope differed in its last digits (0.33895113520757714 against ...547) because OpenBLAS
picks its matrix kernels by CPU type and numpy its SIMD loops, and they add in different orders. Here one
machine plays several: each training runs in a fresh process with OpenBLAS forced to an older CPU's
kernels (`OPENBLAS_CORETYPE`) or numpy's dispatched SIMD loops switched off (`NPY_DISABLE_CPU_FEATURES`).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "unit"  # the synthetic rows of test_ml_train_model_file.py
TRAIN = (
    "import sys; sys.path.insert(0, sys.argv[1])\n"
    "from test_ml_train_model_file import FAST, LABELS, MINUTE, _rows\n"
    "from quantum_trader.ml.train import train_model\n"
    "sys.stdout.write(train_model(_rows(), LABELS, interval_ms=MINUTE, config=FAST, created_ms=1_000).to_json_text())\n"
)


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return next((set(line.split(":", 1)[1].split()) for line in text.splitlines() if line.startswith("flags")), set())


def _variants() -> list[dict[str, str]]:
    """Kernel choices this CPU can run: OpenBLAS's Nehalem (SSE only), Sandybridge (AVX) and Haswell (AVX2)
    kernels, and numpy without its dispatched SIMD loops."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    flags = _cpu_flags()
    cores = ["Nehalem"] + ["Sandybridge"] * ("avx" in flags) + ["Haswell"] * ("avx2" in flags)
    variants = [{"OPENBLAS_CORETYPE": core} for core in cores]
    simd = [name for name in __cpu_dispatch__ if __cpu_features__.get(name)]
    if simd:
        variants.append({"NPY_DISABLE_CPU_FEATURES": " ".join(simd)})
    return variants


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="the kernel choices are x86's")
def test_training_gives_the_same_bytes_with_every_cpu_kernel() -> None:
    variants = _variants()
    assert len(variants) >= 3  # Nehalem runs on any x86-64; with AVX at least one more, and numpy's loops
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES")}
    texts = {}
    for variant in [{}, *variants]:
        done = subprocess.run([sys.executable, "-c", TRAIN, str(UNIT)], capture_output=True, text=True, timeout=120,
                              env={**env, **variant}, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        texts[" ".join(f"{k}={v}" for k, v in variant.items()) or "this CPU"] = done.stdout
    mine = texts["this CPU"]
    assert {name: text == mine for name, text in texts.items()} == dict.fromkeys(texts, True)
