"""Linking face detections into tracks and choosing the subject (pure geometry; the MediaPipe passes
are tested in test_mediapipe.py on real photos)."""

from __future__ import annotations

import pytest

from poseact.infer.tracking import choose_track, link_tracks, subject_crops


def _crossing(n: int = 30, gap: range = range(13, 17)):
    """Two faces crossing: A left→right in every frame (hidden in ``gap``), B right→left in frames 5-24."""
    faces = []
    for t in range(n):
        found = []
        if t not in gap:
            found.append([10 + 20 * t, 100, 40, 40, 0.9])
        if 5 <= t < 25:
            found.append([600 - 22 * (t - 5), 104, 44, 44, 0.8])
        faces.append(found)
    return faces


def test_identities_survive_a_crossing_and_a_gap():
    faces = _crossing()
    tracks = link_tracks(faces)
    assert len(tracks) == 2
    a = next(tr for tr in tracks if tr.frames[0] == 0)
    assert a.frames == [t for t in range(30) if t not in range(13, 17)]
    assert all(box[0] == 10 + 20 * t for t, box in zip(a.frames, a.boxes))  # never B's box
    chosen, why = choose_track(tracks, "longest")
    assert chosen is a and "most frames (26)" in why
    assert choose_track(tracks, a.id)[0] is a and choose_track(tracks, str(a.id))[0] is a
    with pytest.raises(ValueError, match="--track 7: no such track"):
        choose_track(tracks, 7)
    with pytest.raises(ValueError, match="--track 'tallest'"):
        choose_track(tracks, "tallest")


def test_crops_are_lost_only_where_someone_else_is_seen():
    faces = _crossing()
    faces[27] = []  # nobody's face in frame 27 (A turned away): the whole frame
    a = next(tr for tr in link_tracks(faces) if tr.frames[0] == 0)
    crops = subject_crops(a, faces, 800, 600)
    assert [t for t, c in enumerate(crops) if c is None] == [13, 14, 15, 16]  # B is seen there
    assert crops[27] == [0.0, 0.0, 800.0, 600.0]
    x0, y0, x1, y1 = crops[0]
    assert x0 == 0.0 and y1 == min(600.0, 100 + 8.0 * 40) and x1 > 10 + 40  # the body below the face


def test_a_subject_who_turns_away_for_long_is_one_track_again():
    from poseact.infer.tracking import join_pieces

    # one person: seen 0-39, face hidden 40-79 (longer than the linking gap), seen again 80-119, a step away
    faces = [[[100 + 2 * t, 50, 40, 40, 0.9]] if not 40 <= t < 80 else [] for t in range(120)]
    tracks = link_tracks(faces)
    assert len(tracks) == 2
    chosen, _ = choose_track(tracks)
    joined, ids = join_pieces(chosen, tracks)
    assert ids == [1 - chosen.id] and len(joined.frames) == 80
    assert subject_crops(joined, faces, 800, 600)[10] is not None  # both pieces keep their crops
    # two people: the passer-by's track overlaps the subject's in time, so it is never joined
    crossing = link_tracks(_crossing())
    a = next(tr for tr in crossing if tr.frames[0] == 0)
    assert join_pieces(a, crossing)[1] == []
