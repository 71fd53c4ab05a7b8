"""Linking body detections into tracks and choosing the subject (pure geometry and colour; the detector
and the whole tracking pass run on real footage in test_tracking_real.py)."""

from __future__ import annotations

import numpy as np
import pytest

from poseact.infer.tracking import (
    ambiguous_frames,
    choose_track,
    colour_distance,
    join_pieces,
    link_tracks,
    subject_crops,
    track_in_box,
)

RED = [0.9, 0.1, 0.0, 0.0]
BLUE = [0.0, 0.0, 0.1, 0.9]


def _body(x: float, y: float, r: float, colour, score: float = 0.9) -> dict:
    return {"box": [x - 1.25 * r, y - 1.25 * r, 2.5 * r, 2.5 * r], "score": score, "hip": [x, y],
            "shoulder": [x, y - r / 2], "radius": r, "colour": colour}


def _crossing(n: int = 40, hidden: range = range(18, 22)):
    """Two people crossing at the same depth: A (red) left→right in every frame but ``hidden``, B (blue)
    right→left in frames 5-34, passing A around frame 19."""
    bodies = []
    for t in range(n):
        found = []
        if t not in hidden:
            found.append(_body(100 + 20 * t, 300, 100, RED))
        if 5 <= t < 35:
            found.append(_body(870 - 20 * (t - 5), 305, 105, BLUE, 0.8))
        bodies.append(found)
    return bodies


def test_identities_survive_a_crossing_and_an_occlusion():
    bodies = _crossing()
    tracks = link_tracks(bodies)
    assert len(tracks) == 2
    a = next(tr for tr in tracks if tr.frames[0] == 0)
    assert a.frames == [t for t in range(40) if t not in range(18, 22)]
    assert all(d["colour"] == RED for d in a.dets)  # never B's body
    chosen, why = choose_track(tracks, "longest")
    assert chosen is a and "most frames (36)" in why
    assert choose_track(tracks)[0] is a  # "main": the most body over the clip
    assert choose_track(tracks, a.id)[0] is a and choose_track(tracks, str(a.id))[0] is a
    with pytest.raises(ValueError, match="--track 7: no such track"):
        choose_track(tracks, 7)
    with pytest.raises(ValueError, match="--track 'tallest'"):
        choose_track(tracks, "tallest")


def test_colour_tells_people_apart_where_motion_cannot():
    """Two people meet and each turns back: motion alone (constant velocity) would swap them."""
    bodies = []
    for t in range(30):
        xa = 300 + 10 * min(t, 10) - 10 * max(0, t - 10)  # A walks right to x=400, then back left
        xb = 500 - 10 * min(t, 10) + 10 * max(0, t - 10)  # B walks left to x=400, then back right
        bodies.append([_body(xa, 300, 100, RED), _body(xb, 300, 100, BLUE)])
    tracks = link_tracks(bodies)
    assert len(tracks) == 2
    for tr in tracks:
        assert len({tuple(d["colour"]) for d in tr.dets}) == 1  # each track one person's colours
    assert colour_distance(RED, BLUE) > 0.9 and colour_distance(RED, RED) < 1e-6


def test_a_box_names_the_subject():
    tracks = link_tracks(_crossing())
    b, why = track_in_box(tracks, (700, 200, 250, 250))  # around B where B first appears
    assert b.dets[0]["colour"] == BLUE and "frame 5" in why
    a, why = track_in_box(tracks, (0, 0, 1200, 800))  # both: the first one seen
    assert a.dets[0]["colour"] == RED and "frame 0" in why
    with pytest.raises(ValueError, match="no person's hips lie in"):
        track_in_box(tracks, (5000, 5000, 10, 10))


def test_crops_are_lost_where_someone_else_is_where_the_subject_should_be():
    bodies = _crossing()
    a = next(tr for tr in link_tracks(bodies) if tr.frames[0] == 0)
    crops, why = subject_crops(a, bodies, 1200, 800)
    lost = [t for t, c in enumerate(crops) if c is None]
    assert lost and set(lost) <= set(range(16, 24))  # only around the crossing
    assert set(why["occluded"]) | set(why["ambiguous"]) == set(lost)
    x0, y0, x1, y1 = crops[0]
    assert x0 == 0.0 and y0 < 300 - 100 and y1 > 300 + 100  # the body's square around the hips


def test_an_ambiguous_frame_is_flagged():
    """A second body of the same colours right beside the subject: either could be the subject."""
    bodies = [[_body(300 + 5 * t, 300, 100, RED)] for t in range(10)]
    bodies[6].append(_body(300 + 5 * 6 + 15, 300, 100, RED))
    a = link_tracks(bodies)[0]
    assert ambiguous_frames(a, bodies) == [6]


def test_a_subject_who_is_missed_for_long_is_one_track_again():
    # one person: seen 0-39, missed 40-79 (longer than the linking gap), seen again 80-119 a little further
    bodies = [[_body(100 + 2 * t, 300, 100, RED)] if not 40 <= t < 80 else [] for t in range(120)]
    tracks = link_tracks(bodies)
    assert len(tracks) == 2
    joined, ids = join_pieces(choose_track(tracks, "longest")[0], tracks)
    assert len(ids) == 1 and len(joined.frames) == 80
    crops, _ = subject_crops(joined, bodies, 1200, 800)
    assert crops[10] is not None and crops[100] is not None
    assert crops[60] == [0.0, 0.0, 1200.0, 800.0]  # nobody seen, one person in the clip: the whole frame
    # another person (other colours) appearing after the subject leaves is never joined
    other = [[_body(100 + 2 * t, 300, 100, RED)] if t < 40 else [_body(190 + 2 * t, 300, 100, BLUE)] if t >= 50
             else [] for t in range(120)]
    tr = link_tracks(other)
    assert join_pieces(tr[0], tr)[1] == []
    assert np.isfinite(colour_distance(None, RED))


def test_other_people_are_greyed_out_but_never_over_the_subject():
    from poseact.infer.tracking import other_people_masks, torso_box

    bodies = [[_body(300, 300, 100, RED), _body(700, 300, 100, BLUE)],  # apart: the other's whole torso box
              [_body(300, 300, 100, RED), _body(330, 300, 100, BLUE)]]  # overlapping: cut back to the subject's edge
    a = link_tracks(bodies)[0]
    crops, _ = subject_crops(a, bodies, 1200, 800)
    masks = other_people_masks(a, bodies, crops)
    assert masks[0] == [[round(v, 1) for v in torso_box(bodies[0][1])]]
    mine = torso_box(bodies[1][0])
    assert all(m[0] >= mine[2] or m[2] <= mine[0] or m[1] >= mine[3] or m[3] <= mine[1] for m in masks[1])


def test_a_pose_of_someone_else_standing_where_the_subject_is_is_dropped():
    """The identity check of the poses (:func:`poseact.infer.detect._drop_other_people`): a pose at the subject's
    place but in someone else's colours (a person right behind the subject, whom the body detector merged
    with them) is dropped and its frame lost; a pose on another detected body too; the subject's own kept."""
    from poseact.infer.detect import _drop_other_people

    n = 10
    bodies = [[_body(300 + 5 * t, 500, 100, RED)] + ([_body(600, 500, 100, BLUE)] if t == 7 else []) for t in range(n)]
    subject = link_tracks(bodies)[0]

    def pose(x: float, y: float, colour) -> list[dict]:
        k = np.zeros((33, 3))
        k[:, :2] = [x, y]
        return [{"keypoints": k.tolist(), "colour": colour}]

    frames = [pose(300 + 5 * t, 500, RED) for t in range(n)]
    frames[3] = pose(310, 495, BLUE)  # where the subject is, but blue: someone else
    frames[5] = pose(326, 505, [0.8, 0.2, 0.0, 0.0])  # the subject in other light: still red enough
    frames[7] = pose(598, 500, RED)  # on the other detected body
    frames[8] = [{"keypoints": pose(340, 500, RED)[0]["keypoints"]}]  # no colours measured: position only
    tracking = {"lost_frames": [], "lost_why": {}}
    _drop_other_people(frames, tracking, subject, bodies)
    assert tracking["lost_why"]["other_person"] == [3, 7] and tracking["lost_frames"] == [3, 7]
    assert frames[3] == [] and frames[7] == [] and all(frames[t] for t in (0, 1, 2, 4, 5, 6, 8, 9))
    assert tracking["pose_colour_distance"][3] > 0.65 > tracking["pose_colour_distance"][5]
    assert tracking["pose_colour_distance"][8] is None


def test_overlapping_detections_are_two_people_only_side_by_side_in_unlike_colours():
    """The body detector's overlap suppression (:func:`poseact.infer.bodies._two_people`): a smaller person
    beside a nearer one is kept; the same body with its hips also guessed at its chest is not, nor two
    detections in the same colours, nor a fragment far smaller than the body it lies in."""
    from poseact.infer.bodies import _same_body, _two_people

    def det(hip, shoulder, radius, score=0.8):
        return (score, np.asarray(hip, float), np.asarray(shoulder, float), float(radius))

    man = det([540, 860], [520, 600], 460, 0.9)
    woman = det([305, 800], [290, 610], 320)  # beside him, her square inside his (pose2sim Trial_2 cam03)
    chest = det([530, 740], [515, 560], 300)  # his hips guessed at his chest
    fragment = det([300, 800], [290, 760], 100)
    colours = {id(man): RED, id(woman): BLUE, id(chest): BLUE, id(fragment): BLUE}
    assert _same_body(woman, man) and _same_body(chest, man)  # the squares alone would merge both
    assert _two_people(woman, man, lambda d: colours[id(d)])
    assert not _two_people(chest, man, lambda d: colours[id(d)])
    assert not _two_people(woman, man, lambda d: RED)  # alike in colour: one body, as before
    assert not _two_people(fragment, man, lambda d: colours[id(d)])


def test_a_pose_in_the_colours_of_a_person_hidden_behind_the_subject_is_dropped():
    """pose2sim Trial_2 camera 3's case, in small: another person (seen apart in the first frames) steps behind
    the subject and the detector no longer finds them; the pose in the subject's crop drifts onto them — its
    colours still within the subject's gate, but nearer the hidden person's than the subject's. Those frames are
    dropped (``other_person``); a pose nearer the colours of a piece of the subject's own body (a small extra
    detection in the subject's colours, not another person) is kept."""
    from poseact.infer.detect import _drop_other_people
    from poseact.infer.tracking import other_people_colours

    green = [0.0, 0.1, 0.9, 0.0]  # the other person
    mixed = [0.35, 0.1, 0.55, 0.0]  # the subject's crop with the other person's torso in it
    piece = [0.7, 0.3, 0.0, 0.0]  # a piece of the subject, detected on its own
    n = 10
    bodies = [[_body(300, 500, 100, RED)] + ([_body(700 - 60 * t, 500, 90, green)] if t < 5 else [])
              + ([_body(340, 450, 20, piece)] if t in (2, 3) else []) for t in range(n)]
    tracks = link_tracks(bodies)
    subject = tracks[0]
    people = other_people_colours(subject, tracks)
    assert list(people) == [1]  # the green person; the piece is in the subject's colours

    def pose(colour) -> list[dict]:
        k = np.zeros((33, 3))
        k[:, :2] = [300, 500]
        return [{"keypoints": k.tolist(), "colour": colour}]

    frames = [pose(RED) for _ in range(n)]
    for t in (6, 7, 9):
        frames[t] = pose(mixed)
    frames[8] = pose([0.65, 0.35, 0.0, 0.0])  # nearer the piece's colours than the subject's mean: still the subject
    tracking = {"lost_frames": [], "lost_why": {}}
    assert colour_distance(RED, mixed) < 0.65  # the colour gate alone keeps them
    _drop_other_people(frames, tracking, subject, bodies, people)
    assert tracking["lost_why"]["other_person"] == [6, 7, 9] and tracking["lost_frames"] == [6, 7, 9]
    assert all(frames[t] for t in (0, 1, 2, 3, 4, 5, 8))
    assert tracking["pose_colour_other"][6] < tracking["pose_colour_distance"][6]
    # without the other people's colours (as before), the drifted poses pass
    frames = [pose(mixed) if t in (6, 7, 9) else pose(RED) for t in range(n)]
    tracking = {"lost_frames": [], "lost_why": {}}
    _drop_other_people(frames, tracking, subject, bodies)
    assert tracking["lost_why"]["other_person"] == []


def _standing(hip_x: float, hip_y: float, torso: float, colour, roll_deg: float = 0.0) -> dict:
    """A standing body with torso length ``torso`` px (hip centre → shoulder centre), seen by a camera rolled
    ``roll_deg`` about the image point (0, 0) (positions rotated alike)."""
    a = np.radians(roll_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    hip = rot @ [hip_x, hip_y]
    shoulder = rot @ [hip_x, hip_y - torso]
    return {"box": [0, 0, 1, 1], "score": 0.9, "hip": hip.tolist(), "shoulder": shoulder.tolist(),
            "radius": 1.8 * torso, "colour": colour}


@pytest.mark.parametrize("roll", [0.0, 40.0, -90.0])
def test_a_subject_behind_a_nearer_person_is_partly_hidden_whatever_the_camera_roll(roll):
    """:func:`hidden_share`: the nearer person is the one whose feet are lower along the subject's own body
    axis, so a rolled (or portrait) camera reads the same. Behind a nearer, larger person just beside: a third
    and more hidden; the same pair the other way round (the other farther): nothing; side by side at one
    depth: nothing; a far smaller detection (a fragment) over the body: nothing."""
    from poseact.infer.tracking import hidden_share

    subject = _standing(300, 500, 100, RED, roll)
    nearer = _standing(330, 560, 130, BLUE, roll)  # feet 0.6 + 1.7 × 0.3 torso lengths lower: in front
    assert hidden_share(subject, [subject, nearer]) > 0.5
    farther = _standing(330, 440, 80, BLUE, roll)
    assert hidden_share(subject, [farther]) == 0.0
    assert hidden_share(farther, [subject]) > 0.5  # the farther one, seen from its side, is behind the subject
    beside = _standing(380, 500, 100, BLUE, roll)
    assert hidden_share(subject, [beside]) == 0.0  # same depth: neither hides the other
    fragment = dict(_standing(310, 580, 100, BLUE, roll), radius=50.0)
    assert hidden_share(subject, [fragment]) == 0.0
    apart = _standing(600, 560, 130, BLUE, roll)  # nearer but off to the side: hides nothing
    assert hidden_share(subject, [apart]) == 0.0


def test_frames_where_the_subject_is_partly_hidden_are_found_over_a_few_frames():
    """:func:`partly_hidden_frames`: a nearer person walks in front of the subject (frames 10-19 overlapping) and
    on; the frames flagged are those where the median share over 5 frames reaches a quarter, a single frame
    of overlap is not enough, and the subject's other frames are not flagged."""
    from poseact.infer.tracking import HIDDEN_SHARE, partly_hidden_frames

    n = 30
    bodies = []
    for t in range(n):
        x_other = 330 if 10 <= t < 20 or t == 25 else 900
        bodies.append([_standing(300, 500, 100, RED), _standing(x_other, 560, 130, BLUE)])
    subject = next(tr for tr in link_tracks(bodies) if tr.dets[0]["colour"] == RED)
    frames, shares = partly_hidden_frames(subject, bodies)
    assert frames == list(range(10, 20))
    assert shares[25] >= HIDDEN_SHARE and shares[5] == 0.0  # one frame alone: a flicker, not flagged
    # at the clip's edge the window is short: a frame needs a strict majority, its own share among them
    edge = [[_standing(300, 500, 100, RED), _standing(330 if t >= 2 else 900, 560, 130, BLUE)] for t in range(8)]
    first = next(tr for tr in link_tracks(edge) if tr.dets[0]["colour"] == RED)
    assert partly_hidden_frames(first, edge)[0] == list(range(2, 8))


def test_a_pose_made_where_the_body_detector_missed_the_subject_is_judged_from_the_pose():
    """Where the body detector lost the subject behind a nearer person but the crop carried on and a pose was
    made, the pose's own hips and shoulders (:func:`pose_body`) place the body: behind the nearer person it
    is partly hidden; the same pose away from them is not."""
    from poseact.infer.tracking import partly_hidden_frames, pose_body

    n = 12
    unseen = range(6, 12)
    bodies = [([_standing(300, 500, 100, RED)] if t not in unseen else []) + [_standing(330, 560, 130, BLUE)]
              for t in range(n)]
    subject = next(tr for tr in link_tracks(bodies) if tr.dets[0]["colour"] == RED)

    def pose(x: float) -> np.ndarray:
        k = np.zeros((33, 3))
        k[[23, 24], :2] = [[x - 15, 500], [x + 15, 500]]
        k[[11, 12], :2] = [[x - 20, 400], [x + 20, 400]]
        return k

    behind = {t: pose_body(pose(300), 180.0) for t in unseen}
    frames, shares = partly_hidden_frames(subject, bodies, behind)
    assert frames == list(range(n)) and all(shares[t] > 0.5 for t in unseen)
    away = {t: pose_body(pose(900), 180.0) for t in unseen}
    frames, shares = partly_hidden_frames(subject, bodies, away)
    assert all(shares[t] == 0.0 for t in unseen) and frames == list(range(6))  # a majority of 5 lets go at once


def test_what_detect_recorded_of_the_subject_flags_the_frames_infer_lifts(tmp_path):
    """A keypoint JSON as ``poseact detect`` writes it, with the subject's lost and partly hidden frames in its
    ``tracking``: read as infer reads it — from a video (:class:`MediaPipeDetector`) or given as a keypoint
    file (:class:`KeypointFile`) — both kinds of frame are flagged, through the clean-2-D stage; a file from
    before partly hidden frames were recorded flags only the lost ones."""
    import json

    from poseact.infer.clean2d import clean_stage
    from poseact.infer.detectors import KeypointFile, MediaPipeDetector

    n = 12
    pose = [[[300.0 + 10 * j, 400.0 + 20 * (j % 11), 0.9] for j in range(33)]]
    frames = [[] if t in (3, 4, 10) else [{"keypoints": pose[0]}] for t in range(n)]  # 10: no pose, not lost
    tracking = {"chosen": 0, "why": "track 0, as asked", "lost_frames": [3, 4], "lost_why": {"occluded": [3, 4]},
                "partly_hidden_frames": [7, 8, 9], "others": [[] for _ in range(n)]}
    path = tmp_path / "clip_keypoints.json"
    path.write_text(json.dumps({"format": "poseact-keypoints/1", "layout": "mediapipe33", "width": 1000,
                                "height": 800, "fps": 30.0, "frames": frames, "tracking": tracking}))
    for detector in (MediaPipeDetector(), KeypointFile()):
        found = detector.read(path, path)
        assert np.flatnonzero(found.flagged).tolist() == [3, 4, 7, 8, 9], type(detector).__name__
        assert "partly hidden behind a nearer person in 3 frames" in found.track.person
        assert "no pose in its crop in 1 more frame (filled" in found.track.person
        clean = clean_stage(found.track.keypoints, found.track.confidence, found.track.layout, found.flagged,
                            found.others, max_gap=10)
        assert clean.flagged[[3, 4, 7, 8, 9]].all() and not clean.flagged[[0, 1, 2, 5, 6, 10, 11]].any()
        assert np.isfinite(clean.keypoints[10]).all()  # a one-frame gap: filled, not flagged
    del tracking["partly_hidden_frames"]
    path.write_text(json.dumps({"format": "poseact-keypoints/1", "layout": "mediapipe33", "width": 1000,
                                "height": 800, "fps": 30.0, "frames": frames, "tracking": tracking}))
    found = KeypointFile().read(path, path)
    assert found.partly_hidden is None and np.flatnonzero(found.flagged).tolist() == [3, 4]
