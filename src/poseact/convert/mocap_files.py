"""Motion-capture files → joint positions: BVH and Acclaim ASF/AMC, forward kinematics in numpy.

Both readers return a :class:`MocapTake`: every joint's world position per frame, ``(T, J, 3)``
**metres in the file's own axes** (which axis is up is decided later, from the data, by
:mod:`poseact.convert.wild`), plus one ``<joint>_end`` point per end site / leaf bone end.

* **BVH** (``HIERARCHY`` + ``MOTION``): a joint's local transform is its translation, then its
  rotation channels composed in the order listed (``Zrotation Yrotation Xrotation`` = Rz·Ry·Rx,
  intrinsic); the translation is the joint's position channels where it has them (Blender writes
  them on every joint, holding the offset), else its ``OFFSET``. Angles are degrees. Units are not
  recorded in BVH: ``units="auto"`` takes the one of m / cm / mm / inch that gives an adult leg
  (hip → ankle) of 0.4-1.2 m, and says so.
* **ASF/AMC** (Acclaim; CMU's mocap database): ``:units length L`` means one file unit is
  ``1 / L`` inches (CMU: ``length 0.45``); ``angle deg|rad``. Each bone has a rest ``direction``,
  ``length`` and ``axis`` (Euler angles, order as given, e.g. ``XYZ`` = Rz·Ry·Rx applied to column
  vectors); a frame's ``dof`` rotation ``M`` acts in the axis frame ``C``: the bone's world rotation
  is ``parent · C · M · C⁻¹`` and its end is its start + ``length · rotation · direction``.
  AMC files record no frame rate: ``fps`` (CMU: 120) is given by the caller.

A joint's position is where its segment starts (BVH: the joint itself; ASF: the end of the parent
bone, so ``lfemur`` is the hip joint). Bad files raise :class:`~poseact.errors.ConversionError`
naming the file and line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from poseact.errors import ConversionError, InputNotFoundError

PathLike = str | os.PathLike

#: metres per file unit, for ``units=``
UNIT_METRES: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254,
                                 "cmu": 0.0254 / 0.45}  # CMU's ASF unit, kept by its BVH conversions
#: the adult leg length (hip → knee → ankle, metres) that ``units="auto"`` looks for
LEG_RANGE_M = (0.4, 1.2)
#: CMU's capture rate, the usual default for AMC files
CMU_FPS = 120.0


@dataclass
class MocapTake:
    """One motion-capture take: ``positions (T, J, 3)`` metres, file axes; ``names[j]`` per joint
    (end sites as ``<parent>_end``), ``parents[j]`` (-1 = root); ``fps`` frames per second;
    ``up_axis``: the file's up direction (``"+y"``) where its format fixes one, else None (found from
    the body)."""

    name: str
    source: str
    fps: float
    names: list[str]
    parents: list[int]
    positions: np.ndarray
    notes: list[str] = field(default_factory=list)
    up_axis: str | None = None

    @property
    def num_frames(self) -> int:
        return len(self.positions)


def _read_text(path: PathLike, what: str) -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise InputNotFoundError(f"{p}: {what} not found")
    try:
        return p.read_text(encoding="utf-8-sig", errors="replace").splitlines()
    except OSError as e:
        raise ConversionError(f"{p}: cannot read {what}: {e}") from e


def _floats(tokens: list[str], path: PathLike, line: int) -> list[float]:
    try:
        return [float(t) for t in tokens]
    except ValueError:
        raise ConversionError(f"{path}:{line}: expected numbers, got {' '.join(tokens)[:80]!r}") from None


# ----------------------------------------------------------------------------------------- BVH
@dataclass
class _BvhJoint:
    name: str
    parent: int
    offset: np.ndarray
    channels: list[str]
    first_channel: int


def _parse_bvh_hierarchy(lines: list[str], path: PathLike) -> tuple[list[_BvhJoint], int]:
    """Joints of the HIERARCHY section (read as a stream of words, so braces and keywords may
    share lines) and the index of the line after ``MOTION``."""
    words = [(w, n) for n, line in enumerate(lines, 1) for w in line.split()]
    joints: list[_BvhJoint] = []
    stack: list[int] = []
    pending: tuple[str, int] | None = None
    n_channels = 0
    k = 0

    def take(count: int, what: str, line: int) -> list[str]:
        if k + count > len(words):
            raise ConversionError(f"{path}:{line}: the file ends inside {what}")
        return [w for w, _ in words[k:k + count]]

    while k < len(words):
        word, line = words[k]
        k += 1
        key = word.upper()
        if key in ("ROOT", "JOINT"):  # the name is the rest of the line (it may hold spaces)
            name_words = []
            while k < len(words) and words[k][1] == line:
                name_words.append(words[k][0])
                k += 1
            pending = (" ".join(name_words) or f"joint{len(joints)}", stack[-1] if stack else -1)
        elif key == "END":  # "End Site": a point at the end of its parent's segment
            k += 1
            pending = (f"{joints[stack[-1]].name}_end" if stack else "end", stack[-1] if stack else -1)
        elif key == "{":
            if pending is None:
                raise ConversionError(f"{path}:{line}: '{{' without a ROOT/JOINT/End Site before it")
            joints.append(_BvhJoint(pending[0], pending[1], np.zeros(3), [], n_channels))
            stack.append(len(joints) - 1)
            pending = None
        elif key == "}":
            if not stack:
                raise ConversionError(f"{path}:{line}: unbalanced '}}'")
            stack.pop()
        elif key == "OFFSET":
            if not stack:
                raise ConversionError(f"{path}:{line}: OFFSET outside a joint")
            joints[stack[-1]].offset = np.array(_floats(take(3, "OFFSET", line), path, line))
            k += 3
        elif key == "CHANNELS":
            count = take(1, "CHANNELS", line)[0]
            if not stack or not count.isdigit():
                raise ConversionError(f"{path}:{line}: malformed CHANNELS line")
            k += 1
            names = [c.lower() for c in take(int(count), "CHANNELS", line)]
            k += int(count)
            bad = [c for c in names if c[1:] not in ("position", "rotation") or c[0] not in "xyz"]
            if bad:
                raise ConversionError(f"{path}:{line}: unknown channel {bad[0]!r}")
            joints[stack[-1]].channels = names
            joints[stack[-1]].first_channel = n_channels
            n_channels += len(names)
        elif key == "MOTION":
            if stack:
                raise ConversionError(f"{path}:{line}: MOTION before the hierarchy closed")
            return joints, line
        elif key != "HIERARCHY":
            raise ConversionError(f"{path}:{line}: unexpected {word!r} in the hierarchy")
    raise ConversionError(f"{path}: no MOTION section (is this a BVH file?)")


def _bvh_rotations(joint: _BvhJoint, motion: np.ndarray) -> np.ndarray:
    """``(T, 3, 3)`` local rotation of ``joint`` from its rotation channels (intrinsic, listed order)."""
    axes = [(c[0], joint.first_channel + k) for k, c in enumerate(joint.channels) if c.endswith("rotation")]
    if not axes:
        return np.broadcast_to(np.eye(3), (len(motion), 3, 3))
    seq = "".join(a.upper() for a, _ in axes)
    angles = motion[:, [col for _, col in axes]]
    return Rotation.from_euler(seq, angles, degrees=True).as_matrix()


def _bvh_translations(joint: _BvhJoint, motion: np.ndarray) -> np.ndarray:
    """``(T, 3)`` local translation: the position channels where present, else the offset."""
    out = np.broadcast_to(joint.offset, (len(motion), 3)).copy()
    for k, c in enumerate(joint.channels):
        if c.endswith("position"):
            out[:, "xyz".index(c[0])] = motion[:, joint.first_channel + k]
    return out


def read_bvh(path: PathLike, units: str = "auto") -> MocapTake:
    """Read a BVH file (``units``: ``auto`` or a key of :data:`UNIT_METRES`)."""
    lines = _read_text(path, "BVH file")
    joints, start = _parse_bvh_hierarchy(lines, path)
    if not joints:
        raise ConversionError(f"{path}: the hierarchy has no joints")
    header: dict[str, str] = {}
    while start < len(lines) and len(header) < 2:
        text = lines[start].strip()
        start += 1
        if text:
            key, _, value = text.partition(":")
            header[key.strip().lower()] = value.strip()
    try:
        n_frames, frame_time = int(header["frames"]), float(header["frame time"])
    except (KeyError, ValueError):
        raise ConversionError(f"{path}: the MOTION section needs 'Frames: N' and 'Frame Time: S'") from None
    if n_frames < 1:
        raise ConversionError(f"{path}: the MOTION section has no frames (Frames: {n_frames})")
    if frame_time <= 0:
        raise ConversionError(f"{path}: Frame Time must be positive, got {frame_time}")
    width = sum(len(j.channels) for j in joints)
    rows = [ln.split() for ln in lines[start:] if ln.strip()]
    if len(rows) < n_frames:
        raise ConversionError(f"{path}: header says {n_frames} frames, the file has {len(rows)} (truncated?)")
    bad = next((k for k, r in enumerate(rows[:n_frames]) if len(r) != width), None)
    if bad is not None:
        raise ConversionError(f"{path}: frame {bad} has {len(rows[bad])} values, the hierarchy has {width} channels")
    try:
        motion = np.asarray(rows[:n_frames], dtype=np.float64).reshape(n_frames, width)
    except ValueError:
        raise ConversionError(f"{path}: the MOTION section holds something other than numbers") from None
    if not np.isfinite(motion).all():
        raise ConversionError(f"{path}: the MOTION section holds NaN or infinite values")
    # forward kinematics, parents before children (the file's order guarantees it)
    t = n_frames
    rot = np.empty((len(joints), t, 3, 3))
    pos = np.empty((len(joints), t, 3))
    for j, joint in enumerate(joints):
        local_r, local_t = _bvh_rotations(joint, motion), _bvh_translations(joint, motion)
        if joint.parent < 0:
            rot[j], pos[j] = local_r, local_t
        else:
            p = joint.parent
            pos[j] = pos[p] + np.einsum("tij,tj->ti", rot[p], local_t)
            rot[j] = rot[p] @ local_r
    positions = np.ascontiguousarray(np.transpose(pos, (1, 0, 2)))
    names, parents = [j.name for j in joints], [j.parent for j in joints]
    scale, note = _units_scale(units, positions, names, path)
    return MocapTake(Path(path).stem, str(path), 1.0 / frame_time, names, parents, positions * scale,
                     [note] if note else [])


def _units_scale(units: str, positions: np.ndarray, names: list[str], path: PathLike) -> tuple[float, str]:
    if units != "auto":
        if units not in UNIT_METRES:
            raise ConversionError(f"{path}: units {units!r} unknown; use auto or one of {sorted(UNIT_METRES)}")
        return UNIT_METRES[units], ""
    from poseact.convert.wild import (
        leg_length,  # the joint finder lives with the H36M mapping
    )

    leg = leg_length(positions, names, path)
    for unit in ("m", "cm", "mm", "inch", "cmu"):
        if LEG_RANGE_M[0] <= leg * UNIT_METRES[unit] <= LEG_RANGE_M[1]:
            return UNIT_METRES[unit], f"{Path(path).name}: units taken as {unit} (leg {leg * UNIT_METRES[unit]:.2f} m)"
    raise ConversionError(f"{path}: no unit (m, cm, mm, inch, cmu) makes the leg ({leg:.3g} file units) "
                          f"{LEG_RANGE_M[0]}-{LEG_RANGE_M[1]} m long; pass units explicitly")


# ------------------------------------------------------------------------------------- ASF/AMC
@dataclass
class _AsfBone:
    name: str
    direction: np.ndarray
    length: float
    axis: np.ndarray  # (3, 3) C
    dof: list[str]


def _euler_matrix(angles: list[float], order: str, degrees: bool) -> np.ndarray:
    """Acclaim's axis / dof rotation: ``order`` ``XYZ`` = Rz·Ry·Rx (extrinsic in the listed order)."""
    return Rotation.from_euler(order.lower(), angles, degrees=degrees).as_matrix()


def read_asf(path: PathLike) -> tuple[dict[str, _AsfBone], dict[str, list[str]], float, bool,
                                     tuple[list[str], np.ndarray]]:
    """Parse an ASF skeleton: bones by name, children by name (``root`` included), metres per
    unit, degrees?, and the root's (channel order of its AMC line, axis matrix ``C`` from its
    ``orientation`` and ``axis``)."""
    lines = _read_text(path, "ASF file")
    section, bones, children = "", {}, {}
    length_unit, degrees = 1.0, True
    root_order, root_axis_order, root_orientation = ["tx", "ty", "tz", "rx", "ry", "rz"], "XYZ", [0.0, 0.0, 0.0]
    current: dict | None = None
    for i, raw in enumerate(lines, 1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        tokens = text.split()
        if tokens[0].startswith(":"):
            section = tokens[0][1:].lower()
            continue
        if section == "units" and len(tokens) == 2:
            if tokens[0].lower() == "length":
                length_unit = _floats(tokens[1:], path, i)[0]
            elif tokens[0].lower() == "angle":
                degrees = tokens[1].lower().startswith("deg")
        elif section == "root" and tokens[0].lower() == "axis" and len(tokens) == 2:
            root_axis_order = tokens[1]
        elif section == "root" and tokens[0].lower() == "order":
            root_order = [t.lower() for t in tokens[1:]]
            if sorted(root_order) != ["rx", "ry", "rz", "tx", "ty", "tz"]:
                raise ConversionError(f"{path}:{i}: the root's order must hold TX TY TZ RX RY RZ, got {text!r}")
        elif section == "root" and tokens[0].lower() == "orientation" and len(tokens) == 4:
            root_orientation = _floats(tokens[1:], path, i)
        elif section == "bonedata":
            if tokens[0] == "begin":
                current = {"dof": []}
            elif tokens[0] == "end" and current is not None:
                try:
                    bones[current["name"]] = _AsfBone(current["name"], current["direction"], current["length"],
                                                      current["axis"], current["dof"])
                except KeyError as e:
                    raise ConversionError(f"{path}:{i}: a bone lacks {e.args[0]!r}") from None
                current = None
            elif current is not None:
                key = tokens[0].lower()
                if key == "name":
                    current["name"] = tokens[1]
                elif key == "direction":
                    current["direction"] = np.array(_floats(tokens[1:4], path, i))
                elif key == "length":
                    current["length"] = _floats(tokens[1:2], path, i)[0]
                elif key == "axis":
                    current["axis"] = _euler_matrix(_floats(tokens[1:4], path, i), tokens[4] if len(tokens) > 4
                                                    else "XYZ", degrees)
                elif key == "dof":
                    current["dof"] = [d.lower() for d in tokens[1:]]
        elif section == "hierarchy" and tokens[0] not in ("begin", "end"):
            children.setdefault(tokens[0], []).extend(tokens[1:])
    if not bones or "root" not in children:
        raise ConversionError(f"{path}: no :bonedata or no root in :hierarchy (is this an ASF file?)")
    missing = sorted({c for cs in children.values() for c in cs} - set(bones))
    if missing:
        raise ConversionError(f"{path}: :hierarchy names bones without :bonedata: {missing[:5]}")
    if length_unit <= 0:
        raise ConversionError(f"{path}: :units length must be positive, got {length_unit}")
    root = (root_order, _euler_matrix(root_orientation, root_axis_order, degrees))
    return bones, children, UNIT_METRES["inch"] / length_unit, degrees, root


def _read_amc_frames(path: PathLike) -> list[dict[str, list[float]]]:
    lines = _read_text(path, "AMC file")
    frames: list[dict[str, list[float]]] = []
    for i, raw in enumerate(lines, 1):
        text = raw.strip()
        if not text or text.startswith(("#", ":")):
            continue
        tokens = text.split()
        if len(tokens) == 1 and tokens[0].isdigit():
            frames.append({})
        elif frames:
            frames[-1][tokens[0]] = _floats(tokens[1:], path, i)
        else:
            raise ConversionError(f"{path}:{i}: values before the first frame number")
    if not frames:
        raise ConversionError(f"{path}: no frames (is this an AMC file?)")
    return frames


def read_asf_amc(asf: PathLike, amc: PathLike, fps: float = CMU_FPS) -> MocapTake:
    """Read an Acclaim skeleton + motion pair; ``fps``: the AMC's frame rate (not in the file)."""
    bones, children, metres, degrees, (root_order, root_axis) = read_asf(asf)
    frames = _read_amc_frames(amc)
    t = len(frames)
    known = {"root", *bones}
    for k, f in enumerate(frames):
        unknown = sorted(set(f) - known)
        if unknown:
            raise ConversionError(f"{amc}: frame {k + 1} names bone {unknown[0]!r}, which {asf} does not define "
                                  f"(bones: {', '.join(sorted(known)[:40])})")
        bad = next((b for b, v in f.items() if not np.isfinite(v).all()), None)
        if bad is not None:
            raise ConversionError(f"{amc}: frame {k + 1}: {bad} holds NaN or infinite values")

    def values(bone: str, n: int) -> np.ndarray:
        out = np.zeros((t, n))
        for k, f in enumerate(frames):
            v = f.get(bone)
            if v is not None:
                if len(v) != n:
                    raise ConversionError(f"{amc}: frame {k + 1}: {bone} has {len(v)} values, expected {n}")
                out[k] = v
        return out

    root = values("root", 6)
    translation = root[:, [root_order.index(a) for a in ("tx", "ty", "tz")]]
    rot_cols = [k for k, a in enumerate(root_order) if a.startswith("r")]
    root_rot = root_axis @ _euler_matrix(root[:, rot_cols], "".join(root_order[k][1] for k in rot_cols),
                                         degrees) @ root_axis.T
    names, parents, points = ["root"], [-1], [translation * metres]
    rotations: dict[str, np.ndarray] = {"root": root_rot}
    ends: dict[str, np.ndarray] = {"root": points[0]}  # where each bone's children start
    index = {"root": 0}
    order = [("root", c) for c in children["root"]]
    while order:  # breadth first: a bone's parent is placed before it
        parent, bone = order.pop(0)
        b = bones[bone]
        rot_dof = [k for k, d in enumerate(b.dof) if d.startswith("r")]
        m = np.eye(3)
        if rot_dof:
            axes = "".join(b.dof[k][1] for k in rot_dof)
            m = _euler_matrix(values(bone, len(b.dof))[:, rot_dof], axes, degrees)
        rotations[bone] = rotations[parent] @ (b.axis @ m @ b.axis.T)
        start = ends[parent]
        ends[bone] = start + b.length * metres * np.einsum("...ij,j->...i", rotations[bone], b.direction)
        index[bone] = len(names)
        names.append(bone)
        parents.append(index[parent])
        points.append(np.broadcast_to(start, (t, 3)))
        if bone not in children:
            names.append(f"{bone}_end")
            parents.append(index[bone])
            points.append(ends[bone])
        order.extend((bone, c) for c in children.get(bone, []))
    positions = np.ascontiguousarray(np.stack(points, axis=1))
    return MocapTake(Path(amc).stem, f"{asf} + {amc}", float(fps), names, parents, positions)
