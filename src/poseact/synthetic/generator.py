"""The embedded default dataset: procedural human motion seen by the four Human3.6M cameras,
with detector-like 2-D noise, as a poseact store (no download needed).

Subjects and actions carry H36M names, so H36M splits and configs work unchanged. Each take is
generated in world space (:func:`poseact.synthetic.motion.generate_motion`), moved into each camera
of its subject (``pose3d``: camera space, metres, absolute) and projected with the full H36M
distortion model to pixels; the 2-D then gets per-joint Gaussian noise, a temporally correlated
drift (Ornstein-Uhlenbeck) and rare outliers, with a confidence that drops on outliers.

Everything is deterministic in the config (same config -> bit-identical arrays): every take and
every camera view draws from its own random stream keyed by (seed, subject, action, take, camera).
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from poseact.errors import ConfigError
from poseact.paths import cache_dir
from poseact.geometry import CameraCalibration, h36m_cameras, image_coordinates, project_to_2d, world_to_camera
from poseact.store import CameraTable, PoseStore, StoreBuilder, write_store
from poseact.synthetic.motion import ACTIONS, generate_motion

#: Bump when the generated data change, so cached stores of older generators are not reused.
GENERATOR_VERSION = "poseact synthetic v2"
LAYOUT = "h36m17"
DEFAULT_SUBJECTS = ["S1", "S5", "S6", "S7", "S8", "S9", "S11"]
DEFAULT_ACTIONS = ["Directions", "Discussion", "Eating", "Greeting", "Phoning", "Sitting", "SittingDown",
                   "Walking", "WalkDog", "WalkTogether"]


@dataclass
class SyntheticConfig:
    """What to generate. Noise parameters are in pixels of the 1000-pixel H36M images."""

    subjects: list[str] = field(default_factory=lambda: list(DEFAULT_SUBJECTS))
    actions: list[str] = field(default_factory=lambda: list(DEFAULT_ACTIONS))
    takes_per_action: int = 2
    seconds_per_take: float = 8.0  # mean take length
    take_length_spread: float = 0.25  # each take lasts seconds_per_take x (1 ± this), like real takes
    fps: float = 50.0
    seed: int = 0
    noise_px: float = 2.0  # per-joint, per-frame Gaussian sigma
    drift_px: float = 3.0  # stationary sigma of the temporally correlated drift
    drift_time_s: float = 0.5  # correlation time of the drift
    outlier_prob: float = 0.002  # per joint and frame: probability that an outlier starts (lasts 1-3 frames)
    outlier_px: float = 40.0  # typical outlier displacement
    #: subjects written without 3-D (NaN pose3d rows): 2-D + camera only, for semi-supervised
    #: training. Listed subjects missing from ``subjects`` are generated in addition.
    unlabeled_subjects: list[str] = field(default_factory=list)
    #: where generated stores are cached (not part of what is generated: not in the digest); default
    #: poseact's cache folder (``$POSEACT_CACHE`` or ``~/.cache/poseact``)/synthetic, whatever the working directory
    cache_dir: str = field(default_factory=lambda: str(cache_dir("synthetic")))

    def __post_init__(self) -> None:
        # plain types (configs may arrive as OmegaConf containers), so hashing is stable
        self.subjects = [str(s) for s in self.subjects]
        self.actions = [str(a) for a in self.actions]
        self.unlabeled_subjects = [str(s) for s in self.unlabeled_subjects]
        self.cache_dir = str(self.cache_dir)
        self.takes_per_action, self.seed = int(self.takes_per_action), int(self.seed)
        for name in ("seconds_per_take", "take_length_spread", "fps", "noise_px", "drift_px", "drift_time_s", "outlier_prob",
                     "outlier_px"):
            setattr(self, name, float(getattr(self, name)))

    @property
    def all_subjects(self) -> list[str]:
        """Labeled subjects first, then unlabeled ones not already listed."""
        return self.subjects + [s for s in self.unlabeled_subjects if s not in self.subjects]

    @property
    def num_frames(self) -> int:
        """Frames of a take of the mean length."""
        return int(round(self.seconds_per_take * self.fps))

    def take_frames(self, subject: str, action: str, take: int) -> int:
        """Frames of one take: the mean length scaled by a deterministic factor in 1 ± spread."""
        u = keyed_rng(self.seed, "length", subject, action, take).uniform(-1.0, 1.0)
        return max(3, int(round(self.num_frames * (1.0 + self.take_length_spread * u))))

    def validate(self, key: str = "synthetic") -> None:
        """Raise :class:`ConfigError` naming the offending field as ``<key>.<field>``."""
        not_finite = [n for n in ("seconds_per_take", "take_length_spread", "fps", "noise_px", "drift_px",
                                  "drift_time_s", "outlier_prob", "outlier_px") if not math.isfinite(getattr(self, n))]
        if not_finite:
            raise ConfigError(f"{key}.{not_finite[0]} must be a finite number, got {getattr(self, not_finite[0])}")
        unknown = [a for a in self.actions if a not in ACTIONS]
        if unknown:
            raise ConfigError(f"{key}.actions: unknown {unknown}; known: {sorted(ACTIONS)}")
        for name in ("subjects", "actions", "unlabeled_subjects"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ConfigError(f"{key}.{name} has duplicates: {values}")
        if not self.all_subjects or not self.actions:
            raise ConfigError(f"{key}: need at least one subject and one action")
        if self.takes_per_action < 1 or self.num_frames < 3 or self.fps <= 0:
            raise ConfigError(f"{key}: takes_per_action={self.takes_per_action}, seconds_per_take="
                             f"{self.seconds_per_take}, fps={self.fps} give no usable takes")
        if not 0 <= self.take_length_spread < 1:
            raise ConfigError(f"{key}.take_length_spread must be in [0, 1), got {self.take_length_spread}")
        if self.seed < 0:
            raise ConfigError(f"{key}.seed must be >= 0, got {self.seed}")
        for name in ("noise_px", "drift_px", "drift_time_s", "outlier_px"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{key}.{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.outlier_prob <= 1:
            raise ConfigError(f"{key}.outlier_prob must be in [0, 1], got {self.outlier_prob}")

    def identity(self) -> dict:
        """Every field that decides the generated data (all but ``cache_dir``)."""
        return {k: v for k, v in asdict(self).items() if k != "cache_dir"}

    def digest(self) -> str:
        """SHA-1 (hex) of the generator version and :meth:`identity`: the cache key."""
        text = json.dumps({"generator": GENERATOR_VERSION, **self.identity()}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()


def keyed_rng(seed: int, *keys: object) -> np.random.Generator:
    """An independent random stream for ``keys`` (stable across runs and platforms)."""
    return np.random.default_rng(np.random.SeedSequence([seed, *(zlib.crc32(str(k).encode()) for k in keys)]))


def subject_cameras(subject: str) -> list[CameraCalibration]:
    """The 4 H36M cameras of ``subject``. Subjects without extrinsics in the H36M table (S2, S3,
    S4) or unknown to it get S1's extrinsics (and intrinsics, if unknown) under their own name."""
    table = h36m_cameras()
    reference = table["S1"]
    cams = table.get(subject, reference)
    if not all(c.has_extrinsics for c in cams):
        cams = [replace(c, orientation=r.orientation, translation=r.translation) for c, r in zip(cams, reference)]
    return cams


def ou_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float, tau_frames: float) -> np.ndarray:
    """Stationary AR(1) (discretised Ornstein-Uhlenbeck) noise along axis 0: std ``sigma``,
    correlation ``exp(-lag / tau_frames)``. Vectorised as an FFT convolution with the truncated
    exponential kernel, with a burn-in as long as the kernel so the first frame is stationary."""
    if sigma == 0:
        return np.zeros(shape)
    a = float(np.exp(-1 / tau_frames)) if tau_frames > 0 else 0.0
    if a < 1e-6:
        return sigma * rng.standard_normal(shape)
    k = int(np.ceil(np.log(1e-4) / np.log(a)))  # kernel length: a**k = 1e-4
    n = shape[0] + k
    drive = sigma * np.sqrt(1 - a * a) * rng.standard_normal((n, *shape[1:]))
    kernel = a ** np.arange(k)
    size = 1 << int(np.ceil(np.log2(n + k)))
    spec = np.fft.rfft(drive, size, axis=0) * np.fft.rfft(kernel, size).reshape(-1, *[1] * (len(shape) - 1))
    return np.fft.irfft(spec, size, axis=0)[k:n]


def detector_noise(keypoints: np.ndarray, cfg: SyntheticConfig, rng: np.random.Generator,
                   res: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Detector-like corruption of one clip's clean 2-D ``keypoints (T, J, 2)`` pixels.

    Returns ``(noisy (T, J, 2) float32 pixels, confidence (T, J) float32 in [0, 1])``: Gaussian
    jitter (``noise_px``) + correlated drift (``drift_px``, ``drift_time_s``) + outliers (start
    with ``outlier_prob`` per joint and frame, last 1-3 frames, displaced ~``outlier_px`` in a
    random direction). Confidence falls with the error, to 0.05-0.4 of it on outliers and to
    half outside the ``res = (width, height)`` image.
    """
    t, j, _ = keypoints.shape
    err = cfg.noise_px * rng.standard_normal((t, j, 2))
    err += ou_noise(rng, (t, j, 2), cfg.drift_px, cfg.drift_time_s * cfg.fps)
    start = rng.random((t, j)) < cfg.outlier_prob
    duration = rng.integers(1, 4, (t, j))
    direction = rng.standard_normal((t, j, 2))
    offset = direction / np.linalg.norm(direction, axis=-1, keepdims=True).clip(1e-9)
    offset *= cfg.outlier_px * rng.uniform(0.5, 1.5, (t, j, 1))
    outlier = np.zeros((t, j), dtype=bool)
    shift = np.zeros((t, j, 2))
    for lag in range(3):  # an outlier started at frame f covers f .. f + duration - 1
        hit = start[: t - lag] & (duration[: t - lag] > lag)
        shift[lag:][hit] = offset[: t - lag][hit]
        outlier[lag:] |= hit
    noisy = keypoints + err + shift
    scale = max(float(np.hypot(cfg.noise_px, cfg.drift_px)), 1e-6)
    conf = 0.97 - 0.35 * np.tanh(np.linalg.norm(err, axis=-1) / (3 * scale)) + 0.02 * rng.standard_normal((t, j))
    conf = np.where(outlier, conf * rng.uniform(0.05, 0.4, (t, j)), conf)
    inside = ((noisy >= 0) & (noisy <= np.asarray(res, dtype=np.float64))).all(axis=-1)
    conf = np.where(inside, conf, 0.5 * conf)
    return noisy.astype(np.float32), np.clip(conf, 0, 1).astype(np.float32)


def project_camera(pose3d: np.ndarray, cam: CameraCalibration) -> np.ndarray:
    """Camera-space joints ``(T, J, 3)`` metres -> distorted image points ``(T, J, 2)`` pixels."""
    return image_coordinates(project_to_2d(pose3d, cam.intrinsics_vector()), cam.res_w, cam.res_h)


def generate_synthetic(cfg: SyntheticConfig) -> PoseStore:
    """All subjects x actions x takes x the 4 H36M cameras of each subject, as an in-memory store.

    Clip ``take`` names follow H36M (``"Walking 1"``); ``action`` is the action group. Labeled
    clips carry ``pose3d`` (camera space, metres, absolute) and ``pose3d_world``; clips of
    ``cfg.unlabeled_subjects`` carry NaN there. The camera table has one row per (subject, camera)
    with the calibration that rendered the clips.
    """
    cfg.validate()
    subjects = cfg.all_subjects
    cameras = {s: subject_cameras(s) for s in subjects}
    rows = [(s, cam) for s in subjects for cam in cameras[s]]
    builder = StoreBuilder(CameraTable.from_calibrations(rows), LAYOUT, LAYOUT, cfg.fps,
                           f"{GENERATOR_VERSION} (seed {cfg.seed})")
    row_of = {(s, i): r for r, (s, i) in enumerate((s, i) for s in subjects for i in range(len(cameras[s])))}
    for subject in subjects:
        labeled = subject not in cfg.unlabeled_subjects
        for action in cfg.actions:
            for take in range(1, cfg.takes_per_action + 1):
                world = generate_motion(subject, action, take, cfg.take_frames(subject, action, take), cfg.fps,
                                        keyed_rng(cfg.seed, "motion", subject, action, take))
                for i, cam in enumerate(cameras[subject]):
                    pose3d = world_to_camera(world, np.asarray(cam.orientation), np.asarray(cam.translation))
                    keypoints, confidence = detector_noise(
                        project_camera(pose3d, cam), cfg, keyed_rng(cfg.seed, "noise", subject, action, take, cam.id),
                        (cam.res_w, cam.res_h))
                    builder.add_clip(subject, action, f"{action} {take}", row_of[subject, i], keypoints,
                                     confidence=confidence, pose3d=pose3d if labeled else None,
                                     pose3d_world=world if labeled else None)
    store = builder.build()
    store.validate()
    return store


def synthetic_store(cfg: SyntheticConfig, cache_dir: str | Path | None = None) -> Path:
    """Path of the cached store for ``cfg`` (``<cache_dir>/synthetic-<sha1[:10]>.h5``, default
    ``cfg.cache_dir``); generates and writes it (atomically) only if absent. Concurrent callers at
    worst generate it twice."""
    path = Path(cfg.cache_dir if cache_dir is None else cache_dir) / f"synthetic-{cfg.digest()[:10]}.h5"
    if not path.exists():
        write_store(path, generate_synthetic(cfg))
    return path
