"""Run node processes: build the nodes, spin them, and shut down quietly on Ctrl-C / SIGTERM.

Every node executable's ``main`` calls :func:`run_nodes`. What it guarantees, on Humble, Jazzy and
Kilted alike:

- exit code 0 and no traceback when the process gets SIGINT or SIGTERM, also when the signal
  arrives while the nodes are still being built (loading a profile or a model);
- a second signal during the clean-up (a terminal's Ctrl-C reaches every process of the launch's
  process group, and launch may signal its children again) does not interrupt it: on Humble,
  rclpy's signal handler also calls Python's, which raises KeyboardInterrupt wherever the main
  thread happens to be, e.g. inside ``destroy_node``;
- every node is destroyed (the aggregator publishes its pending frames there) before
  ``rclpy.try_shutdown``.
"""
from __future__ import annotations

import signal
from typing import Callable, Iterable, Optional, Sequence


def close_executor(executor) -> None:
    """Shut an executor down after the callbacks it is running have finished.

    rclpy's ``Executor.shutdown`` (Kilted) destroys its guard condition without waiting for a
    MultiThreadedExecutor's in-flight callbacks, which then fail when they signal completion
    ("exception was never retrieved: cannot use Destroyable"). Waiting for the worker pool first
    avoids that; executors without a pool are shut down directly.
    """
    pool = getattr(executor, "_executor", None)  # MultiThreadedExecutor's ThreadPoolExecutor
    if pool is not None and hasattr(pool, "shutdown"):
        pool.shutdown(wait=True)
    executor.shutdown()
    report_unfetched_errors(executor)


def _is_shutdown_error(exc: BaseException) -> bool:
    """Whether ``exc`` is what a callback raises when the context went away under it (a stop signal)."""
    text = str(exc)
    return "context is invalid" in text or "Destroyable" in text or "context is not valid" in text


def report_unfetched_errors(executor, stream=None) -> int:
    """Fetch the errors of callbacks that finished after spinning stopped; return how many were real.

    An executor raises a callback's error from its next spin; a callback still running when a stop
    signal shut the context down (a publish: "publisher's context is invalid") finishes after the
    last spin, and rclpy prints "The following exception was never retrieved" when its task is
    collected. Such shutdown errors are dropped here; any other error is written to ``stream``
    (stderr) with its type, since nobody else will see it.
    """
    import sys

    stream = sys.stderr if stream is None else stream
    tasks = [entry[0] if isinstance(entry, tuple) else entry
             for attr in ("_futures", "_tasks") for entry in list(getattr(executor, attr, None) or ())]
    real = 0
    for task in tasks:
        done = getattr(task, "done", None)
        if done is None or not done():
            continue
        exc = task.exception()  # marks it fetched
        if exc is not None and not _is_shutdown_error(exc):
            real += 1
            print(f"a callback failed while the node was stopping: {type(exc).__name__}: {exc}", file=stream)
    return real


def ignore_stop_signals() -> None:
    """Ignore further SIGINT / SIGTERM in this process (called once shutting down has begun).

    Only possible from the main thread; elsewhere (a test's worker thread) nothing is changed. A
    stop signal that arrives while a signal is being set to ignored raises KeyboardInterrupt in
    the middle of it (seen in a launch test: the second of two SIGINTs); setting it is then retried.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        while True:
            try:
                signal.signal(sig, signal.SIG_IGN)
                break
            except KeyboardInterrupt:
                continue
            except ValueError:  # not the main thread
                return


def shut_down(executor, nodes: Iterable, try_shutdown: Optional[Callable[[], object]] = None) -> None:
    """Close ``executor``, destroy ``nodes``, then call ``try_shutdown``, immune to further stop signals.

    A KeyboardInterrupt that still gets through (a handler rclpy re-installs while shutting down)
    never stops the remaining steps.
    """
    ignore_stop_signals()
    steps = []
    if executor is not None:
        steps.append(lambda: close_executor(executor))
    steps.extend((lambda n=n: n.destroy_node()) for n in nodes)
    if try_shutdown is not None:
        steps.append(try_shutdown)
    for step in steps:
        try:
            step()
        except KeyboardInterrupt:
            ignore_stop_signals()
            step()
    ignore_stop_signals()  # rclpy.try_shutdown restores the handlers it replaced at init


def spin_until_stopped(executor, context) -> None:
    """Spin ``executor`` until Ctrl-C, SIGTERM or an external shutdown; re-raise real errors."""
    from rclpy.executors import ExternalShutdownException

    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        # A SIGINT/SIGTERM can shut the context down while the executor is building its wait
        # set, which surfaces as an RCLError; that is a normal shutdown, anything else is not.
        if context.ok():
            raise


def run_nodes(build: Callable[[], Sequence], args=None, threads: int = 1) -> int:
    """Init rclpy, build the nodes, spin them until a stop signal, clean up; return the exit code (0).

    Args:
        build: called after ``rclpy.init``; returns the process's nodes.
        args: command-line arguments for ``rclpy.init`` (None: ``sys.argv``).
        threads: 1 for a SingleThreadedExecutor, more for a MultiThreadedExecutor with that many.
    """
    import rclpy
    from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor

    rclpy.init(args=args)
    nodes, executor = [], None
    try:
        nodes = list(build())
        executor = MultiThreadedExecutor(num_threads=threads) if threads > 1 else SingleThreadedExecutor()
        for node in nodes:
            executor.add_node(node)
        spin_until_stopped(executor, executor.context)
    except KeyboardInterrupt:  # Ctrl-C while the nodes were being built
        pass
    finally:
        shut_down(executor, nodes, rclpy.try_shutdown)
    return 0
