"""The Python API's arguments of the wrong type are one UsageError naming the argument, not a
TypeError or AttributeError from deep inside; ``detect setup`` into an unwritable place is one line."""

from __future__ import annotations

import os

import numpy as np
import pytest

import poseact
from poseact.errors import DetectionError, UsageError
from poseact.infer.detect import setup_env


@pytest.mark.parametrize("call, match", [
    (lambda: poseact.load_lifter(123), r"load_lifter: checkpoint must be a path .* got int"),
    (lambda: poseact.lift(None, np.zeros((2, 17, 2)), (10, 10)), r"lift: lifter must come from poseact.load_lifter"),
    (lambda: poseact.infer_video(5, "x.ckpt"), r"infer_video: input_path must be a path"),
    (lambda: poseact.export(3, "a.pt"), r"export: checkpoint must be a path"),
    (lambda: poseact.load_multitask(None), r"load_multitask: checkpoint must be a path .* got NoneType"),
    (lambda: poseact.predict_multitask("m", np.zeros((1, 8, 8, 3))), r"predict_multitask: model must come from"),
])
def test_wrong_argument_types_are_one_usage_error(call, match):
    with pytest.raises(UsageError, match=match) as e:
        call()
    assert "\n" not in str(e.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere: the read-only case needs a mount (below)")
def test_detect_setup_into_an_unwritable_folder_is_one_line(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    with pytest.raises(DetectionError, match="not writable"):
        setup_env(folder / "env")


def test_detect_setup_on_a_read_only_file_system_is_one_line(tmp_path):
    import subprocess

    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)], capture_output=True).returncode:
        pytest.skip("this machine does not let the tests mount a small file system")
    try:
        with pytest.raises(DetectionError, match=r"(not writable|cannot create)"):
            setup_env(ro / "env")
        assert list(ro.iterdir()) == []
    finally:
        subprocess.run(["umount", str(ro)], capture_output=True)
