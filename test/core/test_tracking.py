"""Track ids on fused detections (core.tracking over ultralytics' ByteTrack / BoT-SORT)."""
import numpy as np
import pytest

from repose_ros.core.detections import Detections
from repose_ros.core.tracking import Tracker, TrackerConfig

pytest.importorskip("lap")


def _people(t, n=3, drop=()):
    """n people walking right at different speeds (frame t), minus the indices in drop."""
    boxes = [[50 + 200 * i + (4 + i) * t, 100 + 30 * i, 90 + 200 * i + (4 + i) * t, 200 + 30 * i]
             for i in range(n) if i not in drop]
    return Detections(np.array(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.9), np.zeros(len(boxes)))


@pytest.mark.parametrize("method", ["bytetrack", "botsort"])
def test_ids_are_stable_and_survive_a_degraded_frame(method):
    tr = Tracker(TrackerConfig(method=method))
    first = tr.update(_people(0), key=0)
    assert sorted(first) == [1, 2, 3]
    for t in range(1, 4):
        assert list(tr.update(_people(t), key=t)) == list(first)
    assert list(tr.update(Detections.empty(), key=4)) == []          # a degraded frame: nobody found
    assert list(tr.update(_people(5, drop=(1,)), key=5)) == [first[0], first[2]]  # one still missing
    assert list(tr.update(_people(6), key=6)) == list(first)          # everyone back with their id


def test_a_new_person_gets_a_new_id_and_low_scores_start_nothing():
    tr = Tracker()
    ids = tr.update(_people(0, n=2), key=0)
    more = _people(1, n=3)
    assert list(tr.update(more, key=1))[:2] == list(ids) and tr.update(_people(2, n=3), key=2)[2] == 3
    faint = Detections(np.array([[900, 900, 950, 990]], np.float32), np.array([0.05]), np.array([0]))
    assert list(Tracker().update(faint, key=0)) == [-1]


def test_out_of_order_frames_are_not_tracked_and_reset_starts_afresh():
    tr = Tracker()
    tr.update(_people(0), key=10)
    assert tr.update(_people(1), key=9) is None and tr.out_of_order == 1
    assert tr.last_key == 10
    tr.reset()
    assert tr.last_key is None and sorted(tr.update(_people(0), key=1)) == [1, 2, 3]


@pytest.mark.parametrize("kwargs", [dict(method="sort"), dict(track_low_thresh=0.5, track_high_thresh=0.2),
                                    dict(track_buffer=0)])
def test_bad_config_is_refused(kwargs):
    with pytest.raises(ValueError):
        TrackerConfig(**kwargs)


def test_track_metrics_counts_a_switch_and_ignores_distractors():
    pytest.importorskip("motmetrics")
    from repose_ros.core.tracking import track_metrics

    a, b = [0, 0, 10, 20], [50, 0, 60, 20]
    distractor = [100, 100, 110, 120]
    frames = [([1, 2], [a, b], [1, 2], [a, b], []),
              ([1, 2], [a, b], [1, 3, 9], [a, b, distractor], [distractor]),  # id 2 -> 3; 9 sits on an ignore box
              ([1, 2], [a, b], [1, -1], [a, b], [])]                           # untracked: a miss
    m = track_metrics(frames)
    assert m["num_switches"] == 1 and m["num_false_positives"] == 0 and m["num_misses"] == 1
    assert m["num_objects"] == 6 and m["mota"] == pytest.approx((6 - 1 - 1) / 6)
    # IDF1: best id mapping 1->1, 2->2: IDTP 4 of 6 ground truth and 5 hypotheses -> 2*4 / (6 + 5)
    assert m["idf1"] == pytest.approx(8 / 11)
