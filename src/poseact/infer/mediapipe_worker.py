"""MediaPipe Pose over a video or a folder of frames → poseact keypoint JSON (MediaPipe-33).

Runs *inside the MediaPipe environment* (``poseact detect setup``), never imported by poseact:
it needs mediapipe 0.10.21, numpy<2 and protobuf<5, which the main environment cannot hold.
Standalone on purpose (stdlib + numpy + cv2 + mediapipe, and ai_edge_litert for ``bodies.py`` beside it).

    python mediapipe_worker.py INPUT OUT.json [--complexity 1] [--min-confidence 0.5] [--temporal --fps F]
                               [--bodies | --crops CROPS.json]

``--bodies``: every person's body per frame (``"bodies"``, :mod:`bodies`) instead of poses; ``--crops``:
pose on each frame's crop only (a JSON list of ``[x0, y0, x1, y1]`` px or null: no pose there).

INPUT: a video, one image, or a folder of images (each detected on its own, static mode, unless
``--temporal``: a folder of a clip's frames, e.g. a GIF poseact decoded). Output: ``{"format":
"poseact-keypoints/1", "layout": "mediapipe33", "width", "height", "fps", "source", "detector",
"frames": [[{"keypoints": [[x_px, y_px, visibility] * 33]}] or [], ...], "sizes": [[w, h], ...],
"files": [...] (images only)}``. Progress goes to stderr as lines ``progress I N``. Exit status 3
with a message naming the input when it cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def _fail(msg: str) -> None:
    print(f"poseact detect: error: {msg}", file=sys.stderr)
    raise SystemExit(3)


def _image_files(path: str) -> list[str]:
    if os.path.isfile(path):
        return [path]
    files = sorted(f for f in os.listdir(path) if f.lower().endswith(IMAGE_SUFFIXES))
    if not files:
        _fail(f"folder {path!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return [os.path.join(path, f) for f in files]


def _frames(path: str):
    """Yield RGB uint8 frames; first yields (width, height, fps, count or None, files or None)."""
    import cv2

    if os.path.isdir(path) or path.lower().endswith(IMAGE_SUFFIXES):
        files = _image_files(path)
        first = cv2.imread(files[0])
        if first is None:
            _fail(f"image {files[0]!r} cannot be decoded")
        yield first.shape[1], first.shape[0], None, len(files), [os.path.basename(f) for f in files]
        for f in files:
            img = cv2.imread(f)
            if img is None:
                _fail(f"image {f!r} cannot be decoded")
            yield cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        return
    cap = cv2.VideoCapture(path)
    ok, img = cap.read() if cap.isOpened() else (False, None)
    if not ok:
        _fail(f"video {path!r} cannot be decoded")
    fps = cap.get(cv2.CAP_PROP_FPS) or None
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) or None
    yield img.shape[1], img.shape[0], fps, count, None
    while ok:
        yield cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        ok, img = cap.read()


def _crop(img, box):
    """``img`` cut to ``box = [x0, y0, x1, y1]`` px and the cut's top-left corner; ``(None, (0, 0))``
    when there is no box (the subject is lost) or it is too small to hold a person."""
    if box is None:
        return None, (0, 0)
    h, w = img.shape[:2]
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(w, int(box[2])), min(h, int(box[3]))
    if x1 - x0 <= 8 or y1 - y0 <= 8:
        return None, (0, 0)
    return img[y0:y1, x0:x1], (x0, y0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--complexity", type=int, default=1, help="1 = the bundled full model")
    p.add_argument("--min-confidence", type=float, default=0.5)
    p.add_argument("--temporal", action="store_true", help="a folder of one clip's frames (tracking mode)")
    p.add_argument("--fps", type=float, default=None, help="the frame rate of a --temporal folder")
    p.add_argument("--bodies", action="store_true",
                   help="find every body in each frame (the bundled BlazePose detector, bodies.py): 'bodies' per frame")
    p.add_argument("--masks", default=None,
                   help="JSON list, per frame, of boxes [x0, y0, x1, y1] px painted grey before the crop (other people)")
    p.add_argument("--crops", default=None,
                   help="JSON list, per frame, of the subject's box [x0, y0, x1, y1] px or null: pose on that crop only")
    args = p.parse_args(argv)
    if not os.path.exists(args.input):
        _fail(f"input {args.input!r} not found")
    import mediapipe as mp

    frames = _frames(args.input)
    width, height, fps, count, files = next(frames)
    static = files is not None and not args.temporal
    fps = args.fps or fps
    out_frames, sizes, people = [], [], []
    crops, masks = None, None
    if args.masks:
        with open(args.masks) as f:
            masks = json.load(f)
    if args.crops:
        with open(args.crops) as f:
            crops = json.load(f)
    if args.crops or args.bodies:
        import bodies  # beside this file, on sys.path as the script's folder
    t0 = last = time.time()
    if args.bodies:
        import contextlib

        body_detector = bodies.BodyDetector()
        detector = contextlib.nullcontext()
    else:
        detector = mp.solutions.pose.Pose(static_image_mode=static, model_complexity=args.complexity,
                                          min_detection_confidence=args.min_confidence)
    with detector:
        for i, img in enumerate(frames):
            h, w = img.shape[:2]
            sizes.append([w, h])
            if args.bodies:
                found = body_detector.detect(img)
                for d in found:
                    d["colour"] = bodies.torso_histogram(img, d["hip"], d["shoulder"])
                people.append(found)
                out_frames.append([])
            else:
                seen = img  # the frame as it is, for the posed person's colours
                if masks is not None and i < len(masks) and masks[i]:
                    img = img.copy()
                    for mx0, my0, mx1, my1 in masks[i]:
                        img[max(0, int(my0)):max(0, int(my1)), max(0, int(mx0)):max(0, int(mx1))] = 127
                view, (x0, y0) = (img, (0, 0)) if crops is None else _crop(img, crops[i] if i < len(crops) else None)
                res = detector.process(view) if view is not None else None
                if res is None or res.pose_landmarks is None:  # no pose, or the subject not seen: never another's
                    out_frames.append([])
                else:
                    vh, vw = view.shape[:2]
                    kps = [[x0 + lm.x * vw, y0 + lm.y * vh, lm.visibility] for lm in res.pose_landmarks.landmark]
                    person = {"keypoints": kps}
                    if crops is not None:  # the posed torso's colours, for the identity check of the poses
                        hip = [(kps[23][0] + kps[24][0]) / 2, (kps[23][1] + kps[24][1]) / 2]
                        shoulder = [(kps[11][0] + kps[12][0]) / 2, (kps[11][1] + kps[12][1]) / 2]
                        person["colour"] = bodies.torso_histogram(seen, hip, shoulder)
                    out_frames.append([person])
            if time.time() - last > 0.5 or i + 1 == count:
                print(f"progress {i + 1} {count or 0}", file=sys.stderr, flush=True)
                last = time.time()
    doc = {"format": "poseact-keypoints/1", "layout": "mediapipe33", "width": width, "height": height,
           "fps": fps, "source": os.path.abspath(args.input),
           "detector": f"mediapipe {mp.__version__} pose, model_complexity={args.complexity}"
                       + (", static image mode" if static else ""),
           "seconds": round(time.time() - t0, 3), "frames": out_frames, "sizes": sizes}
    if files is not None:
        doc["files"] = files
    if args.bodies:
        doc["bodies"] = people
        doc["detector"] = f"mediapipe {mp.__version__} BlazePose body detector (pose_detection.tflite), tiled"
    tmp = args.output + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, args.output)
    found = sum(bool(fr) for fr in (people if args.bodies else out_frames))
    what = "bodies" if args.bodies else "person"
    print(f"{args.output}: {what} found in {found} of {len(out_frames)} frames",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
