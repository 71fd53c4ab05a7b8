"""The embedded default data: procedural motion (:mod:`.motion`), seen by the four Human3.6M cameras
with detector-like 2-D noise (:mod:`.generator`), and rendered into person-centred image crops for
the multi-task model (:mod:`.render`). Generated on first use and cached by a digest of the config."""

from poseact.synthetic.generator import (
    DEFAULT_ACTIONS,
    DEFAULT_SUBJECTS,
    GENERATOR_VERSION,
    SyntheticConfig,
    detector_noise,
    generate_synthetic,
    subject_cameras,
    synthetic_store,
)
from poseact.synthetic.motion import generate_motion
from poseact.synthetic.render import RenderConfig, rendered_store

__all__ = ["DEFAULT_ACTIONS", "DEFAULT_SUBJECTS", "GENERATOR_VERSION", "RenderConfig", "SyntheticConfig",
           "detector_noise", "generate_motion", "generate_synthetic", "rendered_store", "subject_cameras",
           "synthetic_store"]
