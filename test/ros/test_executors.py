"""Quiet shutdown of node processes (repose_ros.ros.executors), without a ROS graph.

Humble's rclpy signal handler also calls Python's SIGINT handler, so a second Ctrl-C (a terminal
signals the launch's whole process group, and launch may signal its children again) raises
KeyboardInterrupt wherever the main thread is, e.g. inside ``destroy_node``. These tests raise
real signals in this process with Python's default handler in place, as Humble would.
"""
import os
import signal
import time

import pytest

from repose_ros.ros import executors


class _Node:
    def __init__(self, log, name, signal_on_destroy=None):
        self.log, self.name, self.sig = log, name, signal_on_destroy

    def destroy_node(self):
        if self.sig is not None:
            os.kill(os.getpid(), self.sig)
            time.sleep(0.05)  # Python runs its handler at the next bytecode boundary
        self.log.append(f"destroy {self.name}")


class _Executor:
    def __init__(self, log, exc):
        self.log, self.exc = log, exc
        self.context = type("Ctx", (), {"ok": staticmethod(lambda: False)})()

    def spin(self):
        raise self.exc

    def shutdown(self):
        self.log.append("executor shutdown")


@pytest.fixture
def python_handlers():
    """Python's own SIGINT/SIGTERM handlers (as after rclpy chains to them), restored afterwards."""
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def raise_interrupt(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, raise_interrupt)
    yield
    for s, h in old.items():
        signal.signal(s, h)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_second_signal_during_cleanup_does_not_interrupt_it(python_handlers, sig):
    log = []
    nodes = [_Node(log, "a", signal_on_destroy=sig), _Node(log, "b", signal_on_destroy=sig)]
    ex = _Executor(log, KeyboardInterrupt())
    executors.spin_until_stopped(ex, ex.context)  # the first Ctrl-C ends the spin
    executors.shut_down(ex, nodes, lambda: log.append("try_shutdown"))
    assert log == ["executor shutdown", "destroy a", "destroy b", "try_shutdown"]
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_without_the_guard_the_signal_would_interrupt(python_handlers):
    """The situation the guard is for is real: the same node interrupts a plain clean-up."""
    node = _Node([], "a", signal_on_destroy=signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        node.destroy_node()


def test_errors_other_than_shutdown_propagate():
    ex = _Executor([], RuntimeError("boom"))
    ex.context = type("Ctx", (), {"ok": staticmethod(lambda: True)})()
    with pytest.raises(RuntimeError):
        executors.spin_until_stopped(ex, ex.context)
    ex.context = type("Ctx", (), {"ok": staticmethod(lambda: False)})()  # context already shut down: quiet
    executors.spin_until_stopped(ex, ex.context)


def test_run_nodes_survives_ctrl_c_while_building(python_handlers, monkeypatch):
    """A Ctrl-C while the nodes are being built (loading models) still exits with 0 and cleans up."""
    import rclpy

    calls = []
    monkeypatch.setattr(rclpy, "init", lambda args=None: calls.append("init"))
    monkeypatch.setattr(rclpy, "try_shutdown", lambda: calls.append("try_shutdown"))

    def build():
        raise KeyboardInterrupt

    assert executors.run_nodes(build) == 0
    assert calls == ["init", "try_shutdown"]


def _executor_with_late_callback(error):
    """A real MultiThreadedExecutor whose callback raises ``error`` after the last spin (as at a stop signal).

    Returns (executor, node, context, rclpy, release): ``release()`` lets the callback finish.
    """
    import threading

    rclpy = pytest.importorskip("rclpy")
    from rclpy.executors import MultiThreadedExecutor

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=30 + (os.getpid() % 30) * 4 + 3)
    node = rclpy.create_node("fails_late", context=ctx)
    executor = MultiThreadedExecutor(num_threads=2, context=ctx)
    executor.add_node(node)
    started, release = threading.Event(), threading.Event()

    def fail():
        timer.cancel()
        started.set()
        release.wait(10.0)
        raise error

    timer = node.create_timer(0.01, fail)
    deadline = time.monotonic() + 10.0
    while not started.is_set() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)  # the callback runs in the pool; spinning stops here
    assert started.is_set()
    return executor, node, ctx, rclpy, release.set


@pytest.mark.ros
def test_close_executor_fetches_shutdown_errors_of_late_callbacks(capsys):
    """A publish that failed because a stop signal shut the context down is not printed as 'never retrieved'."""
    import gc

    executor, node, ctx, rclpy, release = _executor_with_late_callback(
        RuntimeError("Failed to publish: publisher's context is invalid"))
    release()
    executors.close_executor(executor)
    tasks = list(executor._futures)
    assert tasks and all(t.done() for t in tasks)
    node.destroy_node()
    rclpy.try_shutdown(context=ctx)
    del executor, tasks
    gc.collect()
    err = capsys.readouterr().err
    assert "never retrieved" not in err and "failed while the node was stopping" not in err


@pytest.mark.ros
def test_close_executor_reports_other_errors_of_late_callbacks(capsys):
    """Any other error of a callback that finished after the last spin is printed once, with its type."""
    executor, node, ctx, rclpy, release = _executor_with_late_callback(ValueError("bad frame geometry"))
    release()
    executors.close_executor(executor)
    node.destroy_node()
    rclpy.try_shutdown(context=ctx)
    err = capsys.readouterr().err
    assert "a callback failed while the node was stopping: ValueError: bad frame geometry" in err


def test_ignoring_stop_signals_survives_one_that_arrives_meanwhile(monkeypatch):
    """A stop signal raised while ignore_stop_signals sets SIG_IGN is retried, not propagated."""
    real = signal.signal
    calls = []

    def flaky(sig, handler):
        calls.append(sig)
        if len(calls) == 1:  # the first attempt is interrupted by a second Ctrl-C
            raise KeyboardInterrupt
        return real(sig, handler)

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr(executors.signal, "signal", flaky)
    try:
        executors.ignore_stop_signals()
        assert calls == [signal.SIGINT, signal.SIGINT, signal.SIGTERM]
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        for s, h in previous.items():
            real(s, h)
