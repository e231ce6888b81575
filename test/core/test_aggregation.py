"""FrameAssembler: one release per frame, deadlines, coarse fallback, bounded memory."""
import numpy as np

from repose_ros.core.aggregation import FrameAssembler
from repose_ros.core.detections import Detections


def _dets(*boxes, score=0.9):
    xyxy = np.array(boxes, np.float32).reshape(-1, 4)
    return Detections(xyxy, np.full(len(xyxy), score, np.float32), np.zeros(len(xyxy), np.int32))


COARSE = _dets((10, 10, 20, 40), (110, 10, 120, 40), score=0.1)
RECTS = [(0, 0, 100, 100), (100, 0, 200, 100)]


def test_complete_frame_is_released_once_when_last_block_arrives():
    a = FrameAssembler()
    assert a.add_plan(1, 2, 10.0, COARSE, RECTS) == []
    assert a.add_result(1, 0, _dets((11, 11, 21, 41))) == []
    out = a.add_result(1, 1, _dets((111, 11, 121, 41)))
    assert len(out) == 1 and not out[0].degraded and len(out[0].detections) == 2
    assert a.add_result(1, 1, _dets((1, 1, 2, 2))) == [] and a.stats.late_results == 1
    assert a.poll(1e9) == [] and a.pending == 0


def test_deadline_releases_with_coarse_boxes_of_missing_blocks():
    a = FrameAssembler()
    a.add_plan(2, 2, 5.0, COARSE, RECTS)
    a.add_result(2, 0, _dets((11, 11, 21, 41)))
    assert a.poll(4.9) == []
    (o,) = a.poll(5.0)
    assert o.degraded and o.missing_block_ids == [1] and o.blocks_received == 1
    # block 0 from its detector, block 1 from the coarse stage (score 0.1)
    assert np.allclose(sorted(o.detections.scores.tolist()), [0.1, 0.9])


def test_failed_block_counts_as_missing_but_does_not_wait():
    a = FrameAssembler()
    a.add_plan(3, 2, 100.0, COARSE, RECTS)
    a.add_result(3, 0, _dets((11, 11, 21, 41)))
    (o,) = a.add_result(3, 1, None, "boom")
    assert o.degraded and o.missing_block_ids == [1]


def test_frames_without_blocks_and_dropped_frames_are_released_at_once():
    a = FrameAssembler()
    (o,) = a.add_plan(4, 0, 0.0, COARSE, [])
    assert not o.degraded and len(o.detections) == 2
    (o,) = a.add_plan(5, 0, 0.0, Detections.empty(), [], drop_reason="bad_encoding: x")
    assert o.degraded and len(o.detections) == 0


def test_result_before_plan_is_kept():
    a = FrameAssembler()
    assert a.add_result(6, 0, _dets((11, 11, 21, 41))) == []
    (o,) = a.add_plan(6, 1, 9.0, COARSE, RECTS[:1])
    assert not o.degraded and len(o.detections) == 1


def test_pending_frames_are_bounded():
    a = FrameAssembler(max_pending=3)
    released = []
    for seq in range(10):
        released += a.add_plan(seq, 1, 1e9, COARSE, RECTS[:1])
    assert a.pending == 3 and [o.frame_seq for o in released] == list(range(7))
    assert all(o.degraded for o in released) and a.stats.evicted == 7


def test_unknown_block_id_is_counted():
    a = FrameAssembler()
    a.add_plan(7, 1, 9.0, COARSE, RECTS[:1])
    assert a.add_result(7, 5, _dets((1, 1, 2, 2))) == []
    assert a.stats.unknown_results == 1 and a.pending == 1


def test_frames_of_a_restarted_camera_are_new_frames():
    """frame_seq restarts at 0 with a new session: those frames are answered, not taken as repeats."""
    a = FrameAssembler()
    first = [o for seq in range(3) for o in a.add_plan(seq, 0, 0.0, COARSE, [], session=11)]
    assert [o.frame_seq for o in first] == [0, 1, 2] and {o.session for o in first} == {11}
    # Same numbers, same session: duplicates of released frames, ignored.
    assert a.add_plan(1, 0, 0.0, COARSE, [], session=11) == []
    # The camera restarted: session 42 numbers from 0 again.
    a.add_plan(0, 1, 9.0, COARSE, RECTS[:1], session=42)
    assert a.add_result(0, 0, _dets((11, 11, 21, 41)), session=11) == [] and a.stats.late_results == 1
    (o,) = a.add_result(0, 0, _dets((11, 11, 21, 41)), session=42)
    assert (o.session, o.frame_seq, o.degraded) == (42, 0, False)


def test_eviction_and_deadlines_follow_arrival_not_numbers():
    """Across sessions the oldest plan (first to arrive) is evicted first; poll goes by deadline."""
    a = FrameAssembler(max_pending=2)
    a.add_plan(500, 1, 3.0, COARSE, RECTS[:1], session=1)
    a.add_plan(0, 1, 2.0, COARSE, RECTS[:1], session=2)
    (o,) = a.add_plan(1, 1, 1.0, COARSE, RECTS[:1], session=2)
    assert (o.session, o.frame_seq) == (1, 500)
    assert [(o.session, o.frame_seq) for o in a.poll(10.0)] == [(2, 1), (2, 0)]


def test_next_deadline_is_the_earliest_of_the_waiting_frames():
    """What a caller may sleep until: the earliest pending deadline; None once nothing waits."""
    a = FrameAssembler()
    assert a.next_deadline() is None
    a.add_plan(1, 2, 9.0, COARSE, RECTS)
    a.add_plan(2, 2, 4.0, COARSE, RECTS)
    a.add_plan(3, 0, 1.0, COARSE, [])  # no blocks: released at once, never waits
    assert a.next_deadline() == 4.0
    assert a.poll(3.9) == [] and a.next_deadline() == 4.0
    assert [o.frame_seq for o in a.poll(4.0)] == [2]
    assert a.next_deadline() == 9.0
    a.add_result(1, 0, _dets((11, 11, 21, 41)))
    a.add_result(1, 1, _dets((111, 11, 121, 41)))
    assert a.next_deadline() is None


def test_oversized_block_detections_are_answered_by_the_coarse_box_when_scales_are_known():
    coarse = _dets((10, 10, 60, 90), score=0.3)
    big = _dets((11, 9, 61, 92), score=0.9)  # at 8x its block's input it is 400 x 664 px there
    for scales, kept_score, swapped in (([8.0], 0.3, 1), (None, 0.9, 0), ([1.0], 0.9, 0)):
        a = FrameAssembler(max_input_area=65536.0)
        a.add_plan(1, 1, 10.0, coarse, [(0, 0, 100, 100)], frame_size=(100, 100), block_scales=scales)
        out = a.add_result(1, 0, big)
        assert len(out) == 1 and len(out[0].detections) == 1
        assert out[0].detections.scores[0] == np.float32(kept_score)
        assert a.stats.swapped_to_coarse == swapped and a.stats.dropped_unconfirmed == 0
    # an oversized detection no coarse box confirms: dropped (the default), or kept when asked
    clutter = _dets((70, 5, 95, 95), score=0.8)
    for drop, kept in ((True, 0), (False, 1)):
        a = FrameAssembler(max_input_area=65536.0, drop_unconfirmed=drop, answer_oversized=False)
        a.add_plan(1, 1, 10.0, coarse, [(0, 0, 100, 100)], frame_size=(100, 100), block_scales=[8.0])
        (out,) = a.add_result(1, 0, clutter)
        assert len(out.detections) == kept and a.stats.dropped_unconfirmed == 1 - kept
    # the coarse box's person is too large for the block too, and no block detection answers for it:
    # by default its coarse box is published (answer_oversized), beside the clutter when that is kept
    for drop, expect in ((True, [(10, 10, 60, 90)]), (False, [(10, 10, 60, 90), (70, 5, 95, 95)])):
        a = FrameAssembler(max_input_area=65536.0, drop_unconfirmed=drop)
        a.add_plan(1, 1, 10.0, coarse, [(0, 0, 100, 100)], frame_size=(100, 100), block_scales=[8.0])
        (out,) = a.add_result(1, 0, clutter)
        got = sorted(tuple(int(v) for v in b) for b in out.detections.xyxy)
        assert got == expect and a.stats.answered_by_coarse == 1
        assert out.detections.scores[[tuple(int(v) for v in b) for b in out.detections.xyxy].index(
            (10, 10, 60, 90))] == np.float32(0.3)  # with the coarse pass's score
    import pytest
    with pytest.raises(ValueError, match="scales"):
        FrameAssembler().add_plan(2, 1, 10.0, coarse, [(0, 0, 100, 100)], block_scales=[1.0, 2.0])
