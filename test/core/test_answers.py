"""The partitioner's ledger of planned frames and their answers (core.answers)."""
import pytest

from repose_ros.core.answers import AnswerLedger


def _balanced(ledger):
    c = ledger.counts
    return c["planned"] == c["answered"] + c["unanswered"] + ledger.pending


def test_a_frame_is_answered_or_given_up_after_its_deadline_and_the_grace():
    ledger = AnswerLedger(grace_s=2.0)
    ledger.planned((1, 0), deadline_s=10.0)
    ledger.planned((1, 1), deadline_s=11.0)
    assert ledger.answered((1, 0)) == "answered"
    assert ledger.overdue(12.9) == []          # frame 1 may still be answered until 13.0
    assert ledger.overdue(13.0) == [(1, 1)]
    assert ledger.overdue(100.0) == []         # given up once
    assert dict(ledger.counts) == {"planned": 2, "answered": 1, "unanswered": 1, "late": 0}
    assert ledger.pending == 0 and _balanced(ledger)


def test_a_late_answer_moves_the_frame_from_unanswered_to_answered():
    ledger = AnswerLedger(grace_s=0.5)
    ledger.planned("a", 1.0)
    assert ledger.overdue(2.0) == ["a"]
    assert ledger.answered("a") == "late"
    assert dict(ledger.counts) == {"planned": 1, "answered": 1, "unanswered": 0, "late": 1}
    assert ledger.answered("a") == "unknown"   # a second answer changes nothing
    assert ledger.answered("never planned") == "unknown"
    assert _balanced(ledger)


def test_frames_are_given_up_in_deadline_order_not_plan_order():
    ledger = AnswerLedger(grace_s=0.0)
    ledger.planned("slow", 5.0)   # a larger budget: later deadline
    ledger.planned("fast", 2.0)
    assert ledger.overdue(3.0) == ["fast"]
    assert ledger.overdue(5.0) == ["slow"]


def test_a_duplicate_plan_keeps_the_first_entry_and_counts_once():
    ledger = AnswerLedger(grace_s=1.0)
    ledger.planned("k", 1.0)
    ledger.planned("k", 50.0)
    assert ledger.counts["planned"] == 1
    assert ledger.overdue(2.0) == ["k"]
    # planned again after it was given up (a replayed frame): tracked afresh
    ledger.planned("k", 10.0)
    assert ledger.pending == 1 and ledger.counts["planned"] == 2
    assert ledger.answered("k") == "answered" and _balanced(ledger)


def test_memory_stays_bounded_when_answers_stop():
    ledger = AnswerLedger(grace_s=1e9, max_pending=10, max_given_up=5)
    dropped = [k for i in range(100) for k in ledger.planned(i, float(i))]
    assert dropped == list(range(90))          # the oldest are given up to make room
    assert ledger.pending == 10 and ledger.counts["unanswered"] == 90
    assert ledger.answered(89) == "late" and ledger.answered(3) == "unknown"  # only the last 5 are remembered
    assert _balanced(ledger)
    # answered frames whose time never comes (a paused clock) do not pile up in the schedule
    for i in range(100, 1000):
        ledger.planned(i, 0.0)
        ledger.answered(i)
    assert len(ledger._heap) <= 4 * 10 + 64 + 1 and _balanced(ledger)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        AnswerLedger(grace_s=-1.0)
    with pytest.raises(ValueError):
        AnswerLedger(max_pending=0)
