"""The command line: fast help, clear errors with exit code 2, fit → export → test round trip."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from poseact.cli import main

DEMO = str(REPO / "configs/experiment/demo.yaml")


def test_help_does_not_import_lightning():
    code = "import sys; from poseact.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\n" \
           "print('pytorch_lightning' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "False False"
    assert subprocess.run([sys.executable, "-m", "poseact", "--help"], capture_output=True).returncode == 0


def test_unknown_key_is_a_clear_error(capsys):
    assert main(["fit", DEMO, "model.chanels=3"]) == 2
    err = capsys.readouterr().err
    assert "model.chanels" in err and "Traceback" not in err


def test_missing_store_is_a_clear_error(tmp_path, capsys):
    assert main(["fit", DEMO, f"data.store={tmp_path / 'missing.h5'}", "logger.wandb=false"]) == 2
    assert "missing.h5" in capsys.readouterr().err


@pytest.mark.parametrize("config", ["demo.yaml", "multitask_tiny.yaml"])
def test_test_without_a_checkpoint_is_a_clear_error(config, tmp_path, capsys):
    """``poseact test`` on a run folder that never trained names the checkpoint it looked for."""
    args = ["test", str(REPO / "configs/experiment" / config), f"output_dir={tmp_path}", "logger.wandb=false"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "checkpoints" / "last.ckpt") in err and "Traceback" not in err
    assert main([*args, f"checkpoint={tmp_path / 'nowhere.ckpt'}"]) == 2
    assert "nowhere.ckpt" in capsys.readouterr().err


def test_empty_action_filter_is_a_clear_error(projected_store, tmp_path, capsys):
    code = main(["fit", DEMO, f"data.store={projected_store}", "data.subjects_train=[S1]", "data.subjects_test=[S9]",
                 "data.actions=[Sit,Dancing]", f"output_dir={tmp_path}", "logger.wandb=false"])
    assert code == 2
    assert "['Dancing'] matches no action" in capsys.readouterr().err


def test_data_describe(projected_store, capsys):
    assert main(["data", "describe", str(projected_store)]) == 0
    assert "clips 16" in capsys.readouterr().out


@pytest.mark.slow
def test_fit_export_and_evaluate_as_videopose3d_checkpoint(projected_store, tmp_path, capsys):
    common = [f"data.store={projected_store}", "data.subjects_train=[S1]", "data.subjects_test=[S9]",
              "model.channels=32", "data.batch_frames=128", "logger.wandb=false", "trainer.enable_progress_bar=false"]
    run = tmp_path / "run"
    assert main(["fit", DEMO, *common, "trainer.max_epochs=2", f"output_dir={run}"]) == 0
    ckpt = run / "checkpoints/last.ckpt"
    exported = tmp_path / "exported.bin"
    assert main(["export", str(ckpt), str(exported)]) == 0

    def table(folder):
        with open(folder / "results/test_per_action.csv") as f:
            return {r["action"]: float(r["p1"]) for r in csv.DictReader(f)}

    assert main(["test", DEMO, *common, f"checkpoint={exported}", f"output_dir={tmp_path / 'from_bin'}"]) == 0
    assert main(["test", DEMO, *common, f"checkpoint={ckpt}", f"output_dir={tmp_path / 'from_ckpt'}"]) == 0
    assert table(tmp_path / "from_bin") == pytest.approx(table(tmp_path / "from_ckpt"), rel=1e-6)
    assert table(tmp_path / "from_bin") == pytest.approx(table(run), rel=1e-6)

    preds = tmp_path / "preds.npz"
    assert main(["predict", DEMO, *common, f"checkpoint={ckpt}", f"output_dir={run}", "--out", str(preds)]) == 0
    with np.load(preds) as data:
        assert len(data.files) == 8 and data[data.files[0]].shape == (30, 17, 3)


def test_original_checkpoint_sizes_the_model(projected_store, tmp_path, capsys):
    """A 9-frame original file evaluated under the 27-frame demo config: its architecture wins."""
    from poseact.lifting.checkpoint import save_videopose3d_checkpoint
    from poseact.lifting.models.temporal import TemporalLifter

    path = save_videopose3d_checkpoint(tmp_path / "nine.bin", TemporalLifter(17, 2, 17, [3, 3], channels=16))
    assert main(["test", DEMO, f"data.store={projected_store}", "data.subjects_train=[S1]", "data.subjects_test=[S9]",
                 f"checkpoint={path}", f"output_dir={tmp_path / 'out'}", "logger.wandb=false",
                 "trainer.enable_progress_bar=false"]) == 0
    assert (tmp_path / "out/results/test_per_action.csv").exists()


def test_fit_with_a_model_group_and_a_lightning_option(session_store, tmp_path, capsys):
    """``poseact fit demo.yaml model=mixste27 trainer.gradient_clip_val=1.0``: the architecture comes
    from configs/lifting/model/mixste27.yaml (made small here), the clipping from Lightning."""
    out = tmp_path / "run"
    assert main(["fit", DEMO, "model=mixste27", "trainer.gradient_clip_val=1.0", "model.depth=1", "model.width=16",
                 "model.heads=2", f"data.store={session_store}", "data.subjects_train=[S1]", "data.subjects_test=[S9]",
                 f"output_dir={out}", "trainer.max_epochs=1", "logger.wandb=false",
                 "trainer.enable_progress_bar=false"]) == 0
    saved = (out / "config.yaml").read_text()
    assert "name: mixste" in saved and "frames: 27" in saved and "gradient_clip_val: 1.0" in saved
    assert "poseact: budget 1 epochs" in capsys.readouterr().out
