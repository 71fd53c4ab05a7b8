"""What ``poseact fit`` does before its first step: W&B's imports come before torch when the run logs to W&B."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from poseact.run.trainer import wandb_wanted

DEMO = "configs/experiment/demo.yaml"


@pytest.mark.parametrize("env, overrides, wanted", [
    ("offline", [], True),  # the demo's defaults: logger/wandb_offline.yaml
    ("offline", ["logger.wandb=false"], False),
    ("offline", ["logger.wandb_mode=disabled"], False),
    ("disabled", [], False),  # WANDB_MODE=disabled with the default wandb_mode=auto
    ("offline", ["logger.wandb_mode=online"], True),
])
def test_wandb_wanted_reads_the_logger_keys(monkeypatch, env, overrides, wanted):
    monkeypatch.setenv("WANDB_MODE", env)
    assert wandb_wanted(DEMO, overrides) is wanted


def test_wandb_wanted_of_a_config_without_wandb_and_of_an_unreadable_one(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert wandb_wanted("configs/experiment/multitask_tiny.yaml", []) is False  # logger.wandb: false in the file
    bad = tmp_path / "bad.yaml"
    bad.write_text("logger: [unclosed\n")
    assert wandb_wanted(str(bad), []) is False  # a guess only: the real load reports the error
    assert wandb_wanted(str(tmp_path / "missing.yaml"), []) is False


def test_preload_imports_wandb_before_torch():
    code = textwrap.dedent("""
        import sys
        from poseact.run.trainer import preload_wandb
        preload_wandb()
        print('wandb' in sys.modules, 'torch' in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "False"]


FAULTS = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from poseact.run.allocator import keep_freed_memory
    kept = keep_freed_memory() if sys.argv[1] == "keep" else None
    def step():  # what a training step does with its activations: several large blocks, freed together
        blocks = [np.ones(2_500_000) for _ in range(4)]  # 4 x 20 MB
        del blocks
    step()  # the first use faults in either way
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        step()
    print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_keep_freed_memory_stops_refaulting_freed_blocks():
    def faults(mode: str) -> tuple[str, int]:
        kept, count = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True,
                                     check=True).stdout.split()
        return kept, int(count)

    kept, reused = faults("keep")
    if kept != "True":
        pytest.skip("the C library is not glibc (musl): keep_freed_memory changes nothing there, by design")
    _, plain = faults("plain")
    assert plain > 10_000  # glibc trims the freed heap top: pages faulted in again step after step
    assert reused < 1_000
