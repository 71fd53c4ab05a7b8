"""A re-implementation of VideoPose3D's ``run.py`` procedure that reads a poseact store (not the reference).

    python benchmarks/reference_style.py STORE.h5 --epochs 4 --batch 1024 --channels 256
    python benchmarks/reference_style.py STORE.h5 --train S1 --subset 0.1 --batch 64 --epochs 30
    python benchmarks/reference_style.py STORE.h5 --train S1 --subset 0.1 --unlabeled S5,S6,S7,S8 \\
        --batch 64 --epochs 4 --warmup 1 --lr-decay 0.98

The baseline of ``benchmarks/whole_job.py`` is VideoPose3D's own ``run.py`` (``--reference DIR``),
which issue 23 measured about 1.9x faster than this script on the three whole jobs. It is kept for
what ``run.py`` cannot do: it takes every camera from the store's own camera table, so it runs the
semi-supervised procedure (back-projection through the store's distorted cameras) on stores whose
cameras are not Human3.6M's — stores converted from videos or the in-the-wild store — where
``run.py`` has only its hard-coded Human3.6M table (its ``custom`` dataset refuses
semi-supervision); and it prints the time spent in each phase (data, training, evaluation) as
JSON. ``whole_job.py --style`` times it in its own column. Figures from it are a
re-implementation's, never the reference's.

It follows ``../shared/reference/videopose3d.md`` (§5.7, §6, §7), written with torch and numpy only:

* data: the store's world poses of each take moved into each of its cameras (quaternion
  ``world_to_camera``), root-relative below the root, 2-D normalised to screen units per sequence
  (copies, as ``fetch`` makes them), the ``--subset`` / ``--downsample`` rules;
* training batches from a per-example Python loop (``ChunkedGenerator``: slice, edge padding with
  ``np.pad``, mirroring by index swaps), shuffled by ``RandomState(1234)``, unlabeled stream
  ``RandomState(4321)``, endless;
* the training form of the network as strided ``conv1d`` with ``nn.ReLU`` and ``nn.Dropout``
  (``TemporalModelOptimized1f``), the evaluation form as dilated ``conv1d`` (``TemporalModel``),
  weights copied into it before every evaluation;
* AMSGrad, lr × decay after every epoch, BatchNorm momentum 0.1 → 0.001 set after every epoch;
* the semi-supervised iteration of §7.5 (trajectory model, back-projection with the distorted
  camera model, bone-length term, warm-up);
* after every epoch: 3-D error of the test set and of the training set in eval mode (semi: the
  trajectory and 2-D reprojection errors too, and the unlabeled set's 2-D error), one sequence at
  a time; a checkpoint every 10 epochs; at the end the per-action evaluation with flip
  test-time augmentation (P1, P2, N-MPJPE, MPJVE; action-wise averages).

The last line printed is a JSON object with the final action-wise metrics (mm) and the time spent
in each phase. It reads the poseact store with h5py (as ``run.py`` reads its ``.npz`` files);
nothing of poseact is imported.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from collections import defaultdict
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn as nn

#: H36M 17-joint skeleton: parents, and the left / right joints a mirror swaps (2-D and 3-D alike)
PARENTS = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15]
LEFT, RIGHT = [4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]


# -- data (run.py's dataset loading and fetch) ---------------------------------------------------


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate points ``v (..., 3)`` by the unit quaternion ``q (4,)`` (w, x, y, z)."""
    w, u = q[0], q[1:]
    uv = np.cross(u, v)
    return v + 2 * (w * uv + np.cross(u, uv))


def world_to_camera(x: np.ndarray, orientation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    inverse = orientation * np.array([1, -1, -1, -1])
    return qrot(inverse, x - translation).astype(np.float32)


def normalize_screen(x: np.ndarray, w: int, h: int) -> np.ndarray:
    return x / w * 2 - [1, h / w]


def intrinsics_vector(k: np.ndarray, w: int, h: int) -> np.ndarray:
    """Pixels ``[fx, fy, cx, cy, k1, k2, k3, p1, p2]`` → the normalised 9-vector."""
    focal = k[0:2] / w * 2
    centre = normalize_screen(k[2:4], w, h)
    return np.concatenate([focal, centre, k[4:9]]).astype(np.float32)


def deterministic_random(low: int, high: int, key: str) -> int:
    r = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:4], "little")
    return int(r / (2 ** 32 - 1) * (high - low)) + low


class Sequences:
    """Per-sequence arrays of the selected subjects: 2-D (normalised), 3-D (camera space, joint 0
    absolute, the rest root-relative), intrinsics, and each sequence's action group."""

    def __init__(self, store: dict, subjects: list[str], subset: float = 1.0, downsample: int = 1,
                 with_3d: bool = True) -> None:
        self.poses_2d, self.poses_3d, self.cameras, self.actions = [], [], [], []
        world = {}
        for i in range(len(store["subject"])):
            subject = store["subject"][i]
            if subject not in subjects:
                continue
            start, length, cam = store["start"][i], store["length"][i], store["camera"][i]
            w, h = store["res"][cam]
            kps = normalize_screen(store["keypoints"][start:start + length], w, h).astype(np.float32)
            pos = None
            if with_3d:
                key = (subject, store["take"][i])
                if key not in world:  # one world sequence per take, shared by its cameras
                    world[key] = store["pose3d_world"][start:start + length].copy()
                pos = world_to_camera(world[key], store["orientation"][cam], store["translation"][cam])
                pos[:, 1:] -= pos[:, :1]
            if subset < 1:
                n = int(round((length // downsample) * subset) * downsample)
                first = deterministic_random(0, length - n + 1, str(length))
                kps = kps[first:first + n:downsample]
                pos = None if pos is None else pos[first:first + n:downsample]
            elif downsample > 1:
                kps = kps[::downsample]
                pos = None if pos is None else pos[::downsample]
            if len(kps) == 0:
                continue
            self.poses_2d.append(kps)
            self.poses_3d.append(pos)
            self.cameras.append(intrinsics_vector(store["intrinsics"][cam], w, h))
            self.actions.append(store["actions"][store["action"][i]].split(" ")[0])

    @property
    def num_frames(self) -> int:
        return sum(len(p) for p in self.poses_2d)


def read_store(path: str) -> dict:
    with h5py.File(path, "r") as f:
        out = {name: f[f"clips/{name}"][...] for name in ("start", "length", "camera", "action")}
        for name in ("subject", "take"):
            out[name] = f[f"clips/{name}"].asstr()[...]
        for name in ("res", "intrinsics", "orientation", "translation"):
            out[name] = f[f"cameras/{name}"][...]
        out["actions"] = list(f["actions"].asstr()[...])
        out["keypoints"] = f["frames/keypoints"][...]
        out["pose3d_world"] = f["frames/pose3d_world"][...]
    return out


# -- batches (ChunkedGenerator, chunk length 1) -------------------------------------------------


class WindowBatches:
    """Shuffled batches of ``(camera (b, 9), 3-D (b, 1, J, 3) or None, 2-D (b, 1 + 2 pad, J, 2))``,
    assembled example by example; with ``augment`` every frame also appears mirrored."""

    def __init__(self, data: Sequences, batch: int, pad: int, augment: bool, seed: int, endless: bool = False):
        self.data, self.batch, self.pad, self.endless = data, batch, pad, endless
        pairs = []
        for i, kps in enumerate(data.poses_2d):
            starts = np.arange(len(kps))
            pairs.append(np.stack([np.full(len(kps), i), starts, starts + 1, np.zeros(len(kps), int)], 1))
            if augment:
                pairs.append(np.stack([np.full(len(kps), i), starts, starts + 1, np.ones(len(kps), int)], 1))
        self.pairs = np.concatenate(pairs)
        self.random = np.random.RandomState(seed)
        self.order, self.cursor = None, 0
        joints = data.poses_2d[0].shape[1]
        self.buf_2d = np.empty((batch, 1 + 2 * pad, joints, 2), np.float32)
        self.buf_3d = np.empty((batch, 1, joints, 3), np.float32)
        self.buf_cam = np.empty((batch, 9), np.float32)

    @property
    def num_batches(self) -> int:
        return -(-len(self.pairs) // self.batch)

    def next_epoch(self):
        while True:
            if self.order is None or self.cursor >= len(self.order):
                self.order, self.cursor = self.random.permutation(self.pairs), 0
            while self.cursor < len(self.order):
                chunk = self.order[self.cursor:self.cursor + self.batch]
                self.cursor += len(chunk)
                yield self._assemble(chunk)
            if not self.endless:
                return

    def _assemble(self, chunk: np.ndarray):
        d, pad = self.data, self.pad
        for k, (i, start, end, flip) in enumerate(chunk):
            seq = d.poses_2d[i]
            lo, hi = start - pad, end + pad
            low, high = max(lo, 0), min(hi, len(seq))
            if low != lo or high != hi:
                self.buf_2d[k] = np.pad(seq[low:high], ((low - lo, hi - high), (0, 0), (0, 0)), "edge")
            else:
                self.buf_2d[k] = seq[low:high]
            if flip:
                self.buf_2d[k, :, :, 0] *= -1
                self.buf_2d[k, :, LEFT + RIGHT] = self.buf_2d[k, :, RIGHT + LEFT]
            if d.poses_3d[i] is not None:
                self.buf_3d[k] = d.poses_3d[i][start:end]
                if flip:
                    self.buf_3d[k, :, :, 0] *= -1
                    self.buf_3d[k, :, LEFT + RIGHT] = self.buf_3d[k, :, RIGHT + LEFT]
            self.buf_cam[k] = d.cameras[i]
            if flip:
                self.buf_cam[k, 2] *= -1
                self.buf_cam[k, 7] *= -1
        n = len(chunk)
        return self.buf_cam[:n], (self.buf_3d[:n] if d.poses_3d[0] is not None else None), self.buf_2d[:n]


def whole_sequences(data: Sequences, pad: int, augment: bool):
    """``UnchunkedGenerator``: each sequence edge-padded by ``pad``, with its mirror if ``augment``."""
    for i, kps in enumerate(data.poses_2d):
        batch_2d = np.expand_dims(np.pad(kps, ((pad, pad), (0, 0), (0, 0)), "edge"), 0)
        batch_3d = None if data.poses_3d[i] is None else data.poses_3d[i][None]
        cam = data.cameras[i][None]
        if augment:
            batch_2d = np.concatenate([batch_2d, batch_2d], 0)
            batch_2d[1, :, :, 0] *= -1
            batch_2d[1, :, LEFT + RIGHT] = batch_2d[1, :, RIGHT + LEFT]
            cam = np.concatenate([cam, cam], 0)
            cam[1, 2] *= -1
            cam[1, 7] *= -1
        yield cam, batch_3d, batch_2d


# -- the network (TemporalModel / TemporalModelOptimized1f) --------------------------------------


class TemporalConvNet(nn.Module):
    """Dilated temporal convolutions; ``strided=True`` is the single-frame training form."""

    def __init__(self, joints_in: int, joints_out: int, widths: list[int], channels: int, dropout: float,
                 strided: bool) -> None:
        super().__init__()
        self.widths, self.strided, self.joints_out = widths, strided, joints_out
        self.drop, self.relu = nn.Dropout(dropout), nn.ReLU(inplace=True)
        self.expand_bn = nn.BatchNorm1d(channels, momentum=0.1)
        self.shrink = nn.Conv1d(channels, 3 * joints_out, 1)
        self.expand_conv = nn.Conv1d(joints_in * 2, channels, widths[0], stride=widths[0] if strided else 1,
                                     bias=False)
        convs, bns, self.pads = [], [], [widths[0] // 2]
        dilation = widths[0]
        for w in widths[1:]:
            self.pads.append((w - 1) * dilation // 2)
            convs += [nn.Conv1d(channels, channels, w, stride=w if strided else 1, dilation=1 if strided else dilation,
                                bias=False), nn.Conv1d(channels, channels, 1, bias=False)]
            bns += [nn.BatchNorm1d(channels, momentum=0.1), nn.BatchNorm1d(channels, momentum=0.1)]
            dilation *= w
        self.layers_conv, self.layers_bn = nn.ModuleList(convs), nn.ModuleList(bns)

    @property
    def pad(self) -> int:
        return sum(self.pads)

    def set_bn_momentum(self, momentum: float) -> None:
        self.expand_bn.momentum = momentum
        for bn in self.layers_bn:
            bn.momentum = momentum

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t = x.shape[:2]
        x = x.view(n, t, -1).permute(0, 2, 1)
        x = self.drop(self.relu(self.expand_bn(self.expand_conv(x))))
        for i, w in enumerate(self.widths[1:]):
            if self.strided:
                res = x[:, :, w // 2::w]
            else:
                res = x[:, :, self.pads[i + 1]: x.shape[2] - self.pads[i + 1]]
            x = self.drop(self.relu(self.layers_bn[2 * i](self.layers_conv[2 * i](x))))
            x = res + self.drop(self.relu(self.layers_bn[2 * i + 1](self.layers_conv[2 * i + 1](x))))
        x = self.shrink(x).permute(0, 2, 1)
        return x.reshape(n, -1, self.joints_out, 3)


# -- losses and metrics ---------------------------------------------------------------------------


def mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.mean(torch.norm(pred - target, dim=-1))


def weighted_mpjpe(pred: torch.Tensor, target: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return torch.mean(w * torch.norm(pred - target, dim=-1))


def n_mpjpe(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    norm_pred = torch.mean(torch.sum(pred ** 2, dim=3, keepdim=True), dim=2, keepdim=True)
    norm_target = torch.mean(torch.sum(target * pred, dim=3, keepdim=True), dim=2, keepdim=True)
    return mpjpe(norm_target / norm_pred * pred, target)


def p_mpjpe(pred: np.ndarray, target: np.ndarray) -> float:
    mu_x, mu_y = target.mean(1, keepdims=True), pred.mean(1, keepdims=True)
    x0, y0 = target - mu_x, pred - mu_y
    nx = np.sqrt((x0 ** 2).sum((1, 2), keepdims=True))
    ny = np.sqrt((y0 ** 2).sum((1, 2), keepdims=True))
    x0, y0 = x0 / nx, y0 / ny
    u, s, vt = np.linalg.svd(np.matmul(x0.transpose(0, 2, 1), y0))
    v = vt.transpose(0, 2, 1)
    r = np.matmul(v, u.transpose(0, 2, 1))
    sign = np.sign(np.expand_dims(np.linalg.det(r), 1))
    v[:, :, -1] *= sign
    s[:, -1] *= sign.flatten()
    r = np.matmul(v, u.transpose(0, 2, 1))
    a = np.expand_dims(s.sum(1, keepdims=True), 2) * nx / ny
    t = mu_x - a * np.matmul(mu_y, r)
    aligned = a * np.matmul(pred, r) + t
    return float(np.mean(np.linalg.norm(aligned - target, axis=-1)))


def mean_velocity_error(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean(np.linalg.norm(np.diff(pred, axis=0) - np.diff(target, axis=0), axis=-1)))


def project_to_2d(x: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """H36M camera model (§3.4): perspective division clamped to ±1, radial + tangential distortion."""
    cam = cam.view(cam.shape[0], *([1] * (x.dim() - 2)), 9)
    f, c, k, p = cam[..., :2], cam[..., 2:4], cam[..., 4:7], cam[..., 7:9]
    xy = torch.clamp(x[..., :2] / x[..., 2:], -1, 1)
    r2 = torch.sum(xy[..., :2] ** 2, dim=-1, keepdim=True)
    radial = 1 + torch.sum(k * torch.cat((r2, r2 ** 2, r2 ** 3), dim=-1), dim=-1, keepdim=True)
    tan = torch.sum(p * xy, dim=-1, keepdim=True)
    return f * (xy * (radial + tan) + p * r2) + c


def bone_penalty(pose: torch.Tensor, n_labeled: int) -> torch.Tensor:
    bones = pose[:, :, 1:] - pose[:, :, PARENTS[1:]]
    lengths = torch.mean(torch.norm(bones, dim=3), dim=1)
    return torch.mean(torch.abs(lengths[:n_labeled].mean(0) - lengths[n_labeled:].mean(0)))


# -- the run ---------------------------------------------------------------------------------------


def evaluate_epoch(model_pos, model_traj, data: Sequences, pad: int) -> dict[str, float]:
    """Pooled per-epoch errors of one set (one sequence at a time, no TTA)."""
    sums, frames = defaultdict(float), 0
    with torch.no_grad():
        for cam, batch_3d, batch_2d in whole_sequences(data, pad, augment=False):
            inputs_2d = torch.from_numpy(batch_2d.astype("float32"))
            cam = torch.from_numpy(cam.astype("float32"))
            n = batch_2d.shape[1] - 2 * pad
            pose = model_pos(inputs_2d)
            if batch_3d is not None:
                inputs_3d = torch.from_numpy(batch_3d.astype("float32"))
                traj_gt = inputs_3d[:, :, :1].clone()
                inputs_3d[:, :, 0] = 0
                sums["3d"] += n * mpjpe(pose, inputs_3d).item()
                if model_traj is not None:
                    sums["traj"] += n * mpjpe(model_traj(inputs_2d), traj_gt).item()
            if model_traj is not None:
                projected = project_to_2d(pose + model_traj(inputs_2d), cam)
                target = inputs_2d[:, pad:inputs_2d.shape[1] - pad, :, :2]
                sums["2d"] += n * mpjpe(projected, target).item()
            frames += n
    return {k: v / frames for k, v in sums.items()}


def final_evaluation(model_pos, data: Sequences, pad: int) -> dict[str, float]:
    """Per action, with flip TTA; action-wise averages (mm) of P1, P2, N-MPJPE, MPJVE."""
    per_action = defaultdict(lambda: defaultdict(float))
    with torch.no_grad():
        for i, (cam, batch_3d, batch_2d) in enumerate(whole_sequences(data, pad, augment=True)):
            pred = model_pos(torch.from_numpy(batch_2d.astype("float32")))
            pred[1, :, :, 0] *= -1
            pred[1, :, LEFT + RIGHT] = pred[1, :, RIGHT + LEFT]
            pred = torch.mean(pred, dim=0, keepdim=True)
            target = torch.from_numpy(batch_3d.astype("float32"))
            target[:, :, 0] = 0
            n = target.shape[1]
            acc = per_action[data.actions[i]]
            acc["p1"] += n * mpjpe(pred, target).item()
            acc["n_mpjpe"] += n * n_mpjpe(pred, target).item()
            p, t = pred.squeeze(0).numpy(), target.squeeze(0).numpy()
            acc["p2"] += n * p_mpjpe(p, t)
            acc["mpjve"] += n * mean_velocity_error(p, t)
            acc["frames"] += n
    names = ("p1", "p2", "n_mpjpe", "mpjve")
    return {k: 1000 * float(np.mean([a[k] / a["frames"] for a in per_action.values()])) for k in names}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("store")
    ap.add_argument("--train", default="S1,S5,S6,S7,S8")
    ap.add_argument("--test", default="S9,S11")
    ap.add_argument("--unlabeled", default="")
    ap.add_argument("--subset", type=float, default=1.0)
    ap.add_argument("--downsample", type=int, default=1)
    ap.add_argument("--widths", default="3,3,3")
    ap.add_argument("--channels", type=int, default=1024)
    ap.add_argument("--dropout", type=float, default=0.25)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--lr-decay", type=float, default=0.95)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--checkpoint-dir", default="checkpoint")
    ap.add_argument("--checkpoint-frequency", type=int, default=10)
    args = ap.parse_args()
    clock = time.perf_counter()
    phases = defaultdict(float)
    widths = [int(w) for w in args.widths.split(",")]
    semi = bool(args.unlabeled)

    store = read_store(args.store)
    train = Sequences(store, args.train.split(","), args.subset, args.downsample)
    test = Sequences(store, args.test.split(","), 1.0, args.downsample)
    unlabeled = Sequences(store, args.unlabeled.split(","), 1.0, args.downsample, with_3d=False) if semi else None
    del store
    joints = train.poses_2d[0].shape[1]

    def nets(out: int):
        return (TemporalConvNet(joints, out, widths, args.channels, args.dropout, strided=True),
                TemporalConvNet(joints, out, widths, args.channels, args.dropout, strided=False))

    pos_train, pos_eval = nets(joints)
    traj_train, traj_eval = nets(1) if semi else (None, None)
    pad = pos_eval.pad
    params = list(pos_train.parameters()) + (list(traj_train.parameters()) if semi else [])
    print(f"trainable parameters: {sum(p.numel() for p in pos_eval.parameters()):,}; receptive field "
          f"{2 * pad + 1} frames; {train.num_frames:,} training frames, {test.num_frames:,} test frames")
    optimizer = torch.optim.Adam(params, lr=args.lr, amsgrad=True)
    lr = args.lr
    batches = WindowBatches(train, args.batch, pad, augment=True, seed=1234)
    unlabeled_batches = WindowBatches(unlabeled, args.batch, pad, augment=True, seed=4321, endless=True) if semi \
        else None
    phases["start-up"] = time.perf_counter() - clock

    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        pos_train.train()
        if semi:
            traj_train.train()
        loss_sum, frames = 0.0, 0
        warm = epoch < args.warmup
        stream = unlabeled_batches.next_epoch() if semi else None
        for cam, batch_3d, batch_2d in batches.next_epoch():
            inputs_3d = torch.from_numpy(batch_3d.astype("float32"))
            inputs_2d = torch.from_numpy(batch_2d.astype("float32"))
            traj_gt = inputs_3d[:, :, :1].clone()
            inputs_3d[:, :, 0] = 0
            optimizer.zero_grad()
            n_lab = inputs_2d.shape[0]
            if semi:
                cam_u, _, batch_2d_u = next(stream)
                inputs_2d_u = torch.from_numpy(batch_2d_u.astype("float32"))
                both = inputs_2d if warm else torch.cat((inputs_2d, inputs_2d_u), 0)
                pose = pos_train(both)
                traj = traj_train(both)
                loss = mpjpe(pose[:n_lab], inputs_3d)
                loss_sum += n_lab * loss.item()
                loss = loss + weighted_mpjpe(traj[:n_lab], traj_gt, 1 / traj_gt[:, :, :, 2])
                if not warm:
                    cam_u = torch.from_numpy(cam_u.astype("float32"))
                    target = inputs_2d_u[:, pad:inputs_2d_u.shape[1] - pad, :, :2].contiguous()
                    loss = loss + mpjpe(project_to_2d(pose[n_lab:] + traj[n_lab:], cam_u), target)
                    loss = loss + bone_penalty(pose, n_lab)
            else:
                loss = mpjpe(pos_train(inputs_2d), inputs_3d)
                loss_sum += n_lab * loss.item()
            frames += n_lab
            loss.backward()
            optimizer.step()
        phases["training"] += time.perf_counter() - t0

        t0 = time.perf_counter()
        pos_eval.load_state_dict(pos_train.state_dict())
        pos_eval.eval()
        if semi:
            traj_eval.load_state_dict(traj_train.state_dict())
            traj_eval.eval()
        valid = evaluate_epoch(pos_eval, traj_eval, test, pad)
        train_eval = evaluate_epoch(pos_eval, traj_eval, train, pad)
        line = (f"[{epoch + 1}] lr {lr:.6f} 3d_train {1000 * loss_sum / frames:.1f} 3d_eval {1000 * train_eval['3d']:.1f} "
                f"3d_valid {1000 * valid['3d']:.1f}")
        if semi:
            unl = evaluate_epoch(pos_eval, traj_eval, unlabeled, pad)
            line += (f" traj_eval {1000 * train_eval['traj']:.1f} traj_valid {1000 * valid['traj']:.1f} "
                     f"2d_train_sup {train_eval['2d']:.4f} 2d_train_unsup {unl['2d']:.4f} 2d_valid {valid['2d']:.4f}")
        phases["per-epoch evaluation"] += time.perf_counter() - t0
        print(line, flush=True)

        lr *= args.lr_decay
        for group in optimizer.param_groups:
            group["lr"] *= args.lr_decay
        momentum = 0.1 * np.exp(-(epoch + 1) / args.epochs * np.log(0.1 / 0.001))
        pos_train.set_bn_momentum(momentum)
        if semi:
            traj_train.set_bn_momentum(momentum)
        if (epoch + 1) % args.checkpoint_frequency == 0:
            t0 = time.perf_counter()
            os.makedirs(args.checkpoint_dir, exist_ok=True)
            state = {"epoch": epoch + 1, "lr": lr, "random_state": batches.random, "optimizer": optimizer.state_dict(),
                     "model_pos": pos_train.state_dict()}
            if semi:
                state.update(model_traj=traj_train.state_dict(), random_state_semi=unlabeled_batches.random)
            torch.save(state, Path(args.checkpoint_dir) / f"epoch_{epoch + 1}.bin")
            phases["checkpoints"] += time.perf_counter() - t0

    t0 = time.perf_counter()
    pos_eval.load_state_dict(pos_train.state_dict())
    final = final_evaluation(pos_eval.eval(), test, pad)
    phases["final evaluation"] = time.perf_counter() - t0
    print(" ".join(f"{k} {v:.2f}" for k, v in final.items()))
    print(json.dumps({**final, "phases_s": {k: round(v, 2) for k, v in phases.items()},
                      "total_s": round(time.perf_counter() - clock, 2)}))


if __name__ == "__main__":
    main()
