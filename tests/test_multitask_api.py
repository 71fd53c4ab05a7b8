"""The multi-task model from Python and from ``poseact predict``: a public entry point
(``poseact.load_multitask`` / ``predict_multitask``), the input layout it documents, outputs in
units (2-D in crop pixels, depth in metres, action probabilities with class names)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import REPO
from poseact.cli import main
from poseact.errors import UsageError

MT_TINY = REPO / "configs/experiment/multitask_tiny.yaml"


@pytest.fixture(scope="module")
def rendered(multitask_run, multitask_cache):
    """The rendered synthetic test store of the tiny run: (store, its config)."""
    from poseact.multitask.datamodule import ImageClipDataModule
    from poseact.run.config import load_config

    cfg = load_config(MT_TINY, [f"data.synthetic.cache_dir={multitask_cache}"])
    return ImageClipDataModule(cfg).load(), cfg


def test_load_multitask_is_public_and_lazy():
    code = ("import sys, poseact; assert 'load_multitask' in poseact.__all__ and callable(poseact.load_multitask); "
            "assert callable(poseact.predict_multitask); assert 'pytorch_lightning' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_a_checkpoint_says_what_its_outputs_mean(multitask_run, rendered, tmp_path):
    import poseact
    from helpers.previous_release import write_previous_release_checkpoint

    store, cfg = rendered
    model = poseact.load_multitask(multitask_run / "checkpoints/last.ckpt")
    assert model.input_size == 64 and model.dim == 3 and model.layout == "h36m17" and len(model.joint_names) == 17
    assert model.action_names == [str(a) for a in store.actions] and len(model.action_names) == 10
    with pytest.raises(Exception, match="lifting"):  # a lifter checkpoint is refused, in one line
        poseact.load_multitask(write_previous_release_checkpoint(tmp_path, "temporal"))


def test_predict_multitask_units_and_layout(multitask_run, rendered):
    import poseact

    store, _ = rendered
    model = poseact.load_multitask(multitask_run / "checkpoints/last.ckpt")
    crops = np.asarray(store.images[:16])  # (T, 64, 64, 3) uint8 RGB, person-centred
    out = poseact.predict_multitask(model, crops)
    assert out.pose_2d.shape == (1, 16, 17, 2) and out.confidence.shape == (1, 16, 17)
    assert out.depth.shape == (1, 16, 17) and np.all(out.depth[..., 0] == 0)  # metres relative to the root
    assert out.action_scores.shape == (1, 10) and out.action_scores.sum() == pytest.approx(1.0, abs=1e-5)
    (name, score), = out.top_actions(1)[0]
    assert name in model.action_names and score == pytest.approx(out.action_scores.max())
    # pixels of the crop: the network's normalised x, y times the crop side
    x = torch.from_numpy(2 * crops.astype(np.float32) / 255 - 1).permute(0, 3, 1, 2)[None]
    with torch.no_grad():
        raw = model.model(x, with_action=False)[0][-1].numpy()
    np.testing.assert_allclose(out.pose_2d[0], raw[0, ..., :2] * 64, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(out.depth[0], 2 * (raw[0, ..., 2] - raw[0, ..., :1, 2]), atol=1e-5)
    # floats in [0, 1] are the same pixels; a batch of clips; another crop size is resized
    again = poseact.predict_multitask(model, np.stack([crops, crops]).astype(np.float32) / 255)
    np.testing.assert_allclose(again.pose_2d[1], out.pose_2d[0], atol=1e-3)
    assert poseact.predict_multitask(model, np.repeat(np.repeat(crops, 2, 1), 2, 2)).pose_2d.shape == (1, 16, 17, 2)
    with pytest.raises(UsageError, match=r"^crops of shape \(16, 64, 3\)"):
        poseact.predict_multitask(model, crops[:, 0])


def test_poseact_predict_on_a_multitask_run_writes_units_and_class_names(multitask_run, multitask_cache, tmp_path):
    out = tmp_path / "pred.npz"
    assert main(["predict", str(MT_TINY), f"data.synthetic.cache_dir={multitask_cache}",
                 f"output_dir={multitask_run}", f"checkpoint={multitask_run / 'checkpoints/last.ckpt'}",
                 "--out", str(out)]) == 0
    with np.load(out) as npz:
        units = json.loads(str(npz["units"]))
        assert {"pose_2d", "confidence", "depth", "action_scores", "action_names"} <= set(units)
        assert "pixels" in units["pose_2d"] and "metres" in units["depth"]
        k, t, j, _ = npz["pose_2d"].shape
        assert (t, j) == (8, 17) and npz["depth"].shape == (k, t, j)
        assert 0 <= npz["pose_2d"].min() and npz["pose_2d"].max() <= 64  # crop pixels, not [0, 1]
        assert npz["action_scores"].shape == (k, 10) and np.allclose(npz["action_scores"].sum(1), 1, atol=1e-5)
        assert len(npz["action_names"]) == 10 and all(str(n) for n in npz["action_names"])
        assert list(npz["joint_names"])[0] and len(npz["joint_names"]) == 17
