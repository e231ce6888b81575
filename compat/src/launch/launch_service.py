"""The LaunchService: visits a launch description and supervises the processes it starts."""

import datetime
import itertools
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from typing import List
from typing import Optional
from typing import Text

from ._process_io import close_quietly
from ._process_io import open_process
from ._process_io import ProcessRecord
from ._process_io import read_lines
from .events import Shutdown as ShutdownEvent
from .events.process import ProcessExited
from .events.process import ProcessStarted
from .launch_context import LaunchContext
from .launch_description_entity import LaunchDescriptionEntity

_process_counter = itertools.count(1)
_process_counter_lock = threading.Lock()


def default_log_directory() -> Text:
    """Return the ROS log directory: $ROS_LOG_DIR, $ROS_HOME/log or ~/.ros/log."""
    if os.environ.get('ROS_LOG_DIR'):
        return os.path.expanduser(os.environ['ROS_LOG_DIR'])
    if os.environ.get('ROS_HOME'):
        return os.path.join(os.path.expanduser(os.environ['ROS_HOME']), 'log')
    return os.path.join(os.path.expanduser('~'), '.ros', 'log')


class _Timer:
    def __init__(self, deadline: float, callback, cancel_on_shutdown: bool) -> None:
        self.deadline = deadline
        self.callback = callback
        self.cancel_on_shutdown = cancel_on_shutdown
        self.cancelled = False


class LaunchService:
    """
    Run launch descriptions: visit their entities in order and supervise the processes.

    The launch runs until every process has exited and no timer is pending. Signals and
    shutdown follow the real launch (launch_service.py and actions/execute_local.py):

    - Processes stay in the launch's process group and session, so a terminal's Ctrl-C
      (SIGINT to the foreground process group) reaches each of them directly.
    - A shutdown (a Shutdown action, an error, SIGINT) sends SIGINT to every running process,
      except when it is due to SIGINT and the launch is interactive (``noninteractive=False``):
      then the terminal has delivered it already. Either way SIGTERM follows after
      ``sigterm_timeout`` seconds (launch configuration, default 5) and SIGKILL after
      ``sigterm_timeout + sigkill_timeout`` (default 5 + 5) for a process still running.
    - A second SIGINT is only logged ('again, ignoring...').
    - SIGTERM or SIGQUIT end the launch at once with exit code 1 ('run task was canceled')
      and leave the processes running, as the real launch does: signal the whole process
      group (the processes share it) to stop them too.
    - The exit code is 1 when the launch itself failed (an exception in the launch or in an
      event handler, SIGTERM/SIGQUIT), else 0, whatever the processes' exit codes.
    """

    def __init__(self, *, argv: Optional[List[Text]] = None, noninteractive: bool = False,
                 debug: bool = False, _dry_run: bool = False) -> None:
        self.__context = LaunchContext(argv=argv, noninteractive=noninteractive)
        self.__context._launch_service = self
        self.__debug = debug
        self._dry_run = _dry_run
        self._entities: List[LaunchDescriptionEntity] = []
        self._handlers: List = []
        self._processes: List[ProcessRecord] = []
        self._timers: List[_Timer] = []
        self._events: 'queue.Queue' = queue.Queue()
        self._signals: List[int] = []
        self._sigint_received = False
        self._cancelled = False
        self._shutting_down = False
        self._failed = False
        self._output_lock = threading.Lock()
        self._log_file = None
        self._log_dir: Optional[Text] = None
        self._temp_files: List[Text] = []
        self.dry_run_processes: List = []

    @property
    def context(self) -> LaunchContext:
        """Getter for the launch context."""
        return self.__context

    @property
    def log_directory(self) -> Optional[Text]:
        """Getter for the directory of this launch's log files (None before run)."""
        return self._log_dir

    def include_launch_description(self, launch_description) -> None:
        """Add a launch description (or any entity) to be visited by run()."""
        self._entities.append(launch_description)

    def shutdown(self, force_sync: bool = False) -> None:
        """Ask the launch to shut down; safe to call from any thread."""
        self._events.put(('shutdown', 'LaunchService.shutdown() called'))

    # ----------------------------------------------------------------- logging and output
    def _write(self, line: Text, *, screen: bool = True) -> None:
        with self._output_lock:
            if screen:
                try:
                    sys.stdout.write(line + '\n')
                    sys.stdout.flush()
                except (OSError, ValueError):
                    pass
            if self._log_file is not None:
                try:
                    self._log_file.write('{:.7f} {}\n'.format(time.time(), line))
                    self._log_file.flush()
                except (OSError, ValueError):
                    pass

    def _log(self, level: Text, name: Text, message: Text) -> None:
        self._write('[{}] [{}]: {}'.format(level, name, message))

    def _open_log(self) -> None:
        stamp = datetime.datetime.now().strftime('%Y-%m-%d-%H-%M-%S-%f')
        directory = os.path.join(default_log_directory(),
                                 '{}-{}-{}'.format(stamp, socket.gethostname(), os.getpid()))
        try:
            os.makedirs(directory, exist_ok=True)
            self._log_file = open(os.path.join(directory, 'launch.log'), 'a', encoding='utf-8')
            self._log_dir = directory
        except OSError:
            self._log_file = None
            self._log_dir = None

    # ----------------------------------------------------------------- visiting
    def _visit(self, entity: LaunchDescriptionEntity) -> None:
        context = self.__context
        sub_entities = entity.visit(context)
        for sub_entity in sub_entities or []:
            with context._scoped_locals():
                self._visit(sub_entity)

    def _exception_in_launch(self, exc: Exception) -> None:
        """Report an error as the real launch does: exit code 1, shutdown (SIGINT to all)."""
        self._failed = True
        message = 'Caught exception in launch (see debug for traceback): {}'.format(exc)
        if self.__debug:
            for line in traceback.format_exc().rstrip().splitlines():
                self._log('DEBUG', 'launch', line)
        self._log('ERROR', 'launch', message)
        self._begin_shutdown(message)

    def _visit_safely(self, entity: LaunchDescriptionEntity) -> bool:
        try:
            self._visit(entity)
            return True
        except Exception as exc:
            self._exception_in_launch(exc)
            return False

    def _visit_entities(self, entities) -> None:
        for entity in entities or []:
            with self.__context._scoped_locals():
                self._visit_safely(entity)

    # ----------------------------------------------------------------- events
    def _register_event_handler(self, handler) -> None:
        self._handlers.append(handler)

    def _unregister_event_handler(self, handler) -> None:
        if handler in self._handlers:
            self._handlers.remove(handler)

    def _emit_event(self, event) -> None:
        if isinstance(event, ShutdownEvent):
            self._begin_shutdown(event.reason, event=event)
            return
        self._dispatch(event)

    def _dispatch(self, event) -> None:
        context = self.__context
        for handler in list(self._handlers):
            if not handler.matches(event):
                continue
            if handler.handle_once:
                self._unregister_event_handler(handler)
            with context._scoped_locals():
                try:
                    entities = handler.handle(event, context)
                except Exception as exc:
                    self._exception_in_launch(exc)
                    continue
                self._visit_entities(entities)

    def _add_timer(self, period: float, entities, cancel_on_shutdown: bool) -> None:
        if self._shutting_down and cancel_on_shutdown:
            return
        self._timers.append(_Timer(time.monotonic() + period,
                                   lambda: self._visit_entities(entities), cancel_on_shutdown))

    # ----------------------------------------------------------------- processes
    def _start_process(self, action, spec) -> None:
        if self._shutting_down:
            return
        with _process_counter_lock:
            label = '{}-{}'.format(spec.name, next(_process_counter))
        action._set_final_name(label)
        if self._dry_run:
            self.dry_run_processes.append((label, spec))
            return
        record = ProcessRecord(action, spec, label)
        self._processes.append(record)
        self._spawn(record)

    def _spawn(self, record: ProcessRecord) -> None:
        spec = record.spec
        popen, fds, masters = open_process(spec)
        record.popen = popen
        record.pid = popen.pid
        record.running = True
        record.returncode = None
        record.shutdown_started = None
        record.escalations = set()
        record.action._set_pid(popen.pid)
        self._log('INFO', record.label, 'process started with pid [{}]'.format(popen.pid))
        if spec.log_cmd:
            self._log('INFO', record.label, "process details: cmd='{}', cwd='{}'".format(
                ' '.join(spec.cmd), spec.cwd if spec.cwd is not None else os.getcwd()))
        self._dispatch(ProcessStarted(action=record.action, name=record.label, cmd=spec.cmd,
                                      cwd=spec.cwd, env=spec.env, pid=popen.pid))
        readers = [threading.Thread(target=self._read_output, args=(record, fd, stream),
                                    daemon=True) for fd, stream in fds]
        for reader in readers:
            reader.start()
        threading.Thread(target=self._wait_process, args=(record, popen, readers, masters),
                         daemon=True).start()

    def _read_output(self, record: ProcessRecord, fd: int, stream: Text) -> None:
        to_screen = record.spec.output in ('screen', 'both') or stream == 'stderr'
        for line in read_lines(fd):
            self._output_line(record, line, to_screen)

    def _output_line(self, record: ProcessRecord, raw: bytes, to_screen: bool) -> None:
        text = raw.decode('utf-8', errors='replace').rstrip('\r')
        self._write('[{}] {}'.format(record.label, text), screen=to_screen)

    def _wait_process(self, record: ProcessRecord, popen: subprocess.Popen, readers, masters) -> None:
        returncode = popen.wait()
        for reader in readers:
            reader.join(timeout=1.0)
        close_quietly(os.close, masters)
        close_quietly(lambda pipe: pipe.close(), [p for p in (popen.stdout, popen.stderr) if p is not None])
        self._events.put(('exit', record, returncode))

    def _on_process_exit(self, record: ProcessRecord, returncode: int) -> None:
        record.running = False
        record.returncode = returncode
        if returncode == 0:
            self._log('INFO', record.label, 'process has finished cleanly [pid {}]'.format(record.pid))
        else:
            self._log('ERROR', record.label, "process has died [pid {}, exit code {}, cmd '{}'].".format(
                record.pid, returncode, ' '.join(record.spec.cmd)))
        spec = record.spec
        will_respawn = (spec.respawn and not self._shutting_down
                        and (spec.respawn_max_retries < 0 or record.retries < spec.respawn_max_retries))
        self._dispatch(ProcessExited(action=record.action, name=record.label, cmd=spec.cmd,
                                     cwd=spec.cwd, env=spec.env, pid=record.pid,
                                     returncode=returncode))
        if will_respawn and not self._shutting_down:
            record.retries += 1

            def respawn() -> None:
                if self._shutting_down:
                    return
                try:
                    self._spawn(record)
                except OSError as exc:
                    self._failed = True
                    self._log('ERROR', record.label, 'failed to respawn: {}'.format(exc))
            self._timers.append(_Timer(time.monotonic() + spec.respawn_delay, respawn, True))

    def _send_signal(self, record: ProcessRecord, sig: signal.Signals) -> None:
        """Signal the process itself (not its group), as the real launch's transport does."""
        if not record.running:
            return
        self._log('INFO', record.label, "sending signal '{}' to process[{}]".format(
            sig.name, record.label))
        try:
            os.kill(record.pid, sig)
        except ProcessLookupError:
            pass

    def _running(self) -> List[ProcessRecord]:
        return [p for p in self._processes if p.running]

    # ----------------------------------------------------------------- shutdown
    def _begin_shutdown(self, reason: Text, *, event=None, due_to_sigint: bool = False) -> None:
        if self._shutting_down:
            return
        self._shutting_down = True
        self.__context._is_shutdown = True
        for timer in self._timers:
            if timer.cancel_on_shutdown:
                timer.cancelled = True
        if event is None:
            event = ShutdownEvent(reason=reason, due_to_sigint=due_to_sigint)
        self._dispatch(event)
        # ExecuteLocal.__on_shutdown: send SIGINT unless the shutdown is due to SIGINT and the
        # launch is interactive (then the terminal's Ctrl-C reached the processes already).
        send_sigint = not event.due_to_sigint or self.__context.noninteractive
        now = time.monotonic()
        for record in self._running():
            record.shutdown_started = now
            if send_sigint:
                self._send_signal(record, signal.SIGINT)

    def _escalate(self, now: float) -> None:
        """Fire the SIGTERM / SIGKILL timers that ExecuteLocal starts at shutdown."""
        message = "process[{}] failed to terminate '{}' seconds after receiving '{}', escalating to '{}'"
        for record in self._running():
            if record.shutdown_started is None:
                continue
            spec = record.spec
            elapsed = now - record.shutdown_started
            if 'SIGTERM' not in record.escalations and elapsed >= spec.sigterm_timeout:
                record.escalations.add('SIGTERM')
                self._log('ERROR', record.label, message.format(
                    record.label, spec.sigterm_timeout_text, 'SIGINT', 'SIGTERM'))
                self._send_signal(record, signal.SIGTERM)
            total = spec.sigterm_timeout + spec.sigkill_timeout
            if 'SIGKILL' not in record.escalations and elapsed >= total:
                record.escalations.add('SIGKILL')
                # The real message shows the SIGKILL timer's period (both timeouts added).
                self._log('ERROR', record.label, message.format(
                    record.label, total, 'SIGTERM', 'SIGKILL'))
                self._send_signal(record, signal.SIGKILL)

    def _on_signal(self, signum, frame) -> None:
        self._signals.append(signum)

    def _handle_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            if signum == signal.SIGINT:
                if not self._sigint_received:
                    self._sigint_received = True
                    self._log('WARNING', 'launch', 'user interrupted with ctrl-c (SIGINT)')
                    self._begin_shutdown('ctrl-c (SIGINT)', due_to_sigint=True)
                else:
                    self._log('WARNING', 'launch',
                              'user interrupted with ctrl-c (SIGINT) again, ignoring...')
                continue
            name = signal.Signals(signum).name
            self._log('ERROR', 'launch', 'user interrupted with ctrl-\\ ({}), terminating...'.format(name))
            self._log('ERROR', 'launch', 'using {} can result in orphaned processes'.format(name))
            self._log('ERROR', 'launch', 'make sure no processes launched are still running')
            self._cancelled = True

    # ----------------------------------------------------------------- main loop
    def _idle(self) -> bool:
        if self._running() or not self._events.empty():
            return False
        return not any(not t.cancelled for t in self._timers)

    def _fire_timers(self, now: float) -> None:
        due = [t for t in self._timers if not t.cancelled and t.deadline <= now]
        self._timers = [t for t in self._timers if not t.cancelled and t.deadline > now]
        for timer in sorted(due, key=lambda t: t.deadline):
            timer.callback()

    def _loop(self) -> None:
        while True:
            self._handle_signals()
            if self._cancelled:
                self._log('ERROR', 'launch', 'run task was canceled')
                self._failed = True
                return
            try:
                kind, *payload = self._events.get(timeout=0.05)
            except queue.Empty:
                kind = None
            if kind == 'exit':
                self._on_process_exit(*payload)
            elif kind == 'shutdown':
                self._begin_shutdown(payload[0])
            now = time.monotonic()
            self._fire_timers(now)
            if self._shutting_down:
                self._escalate(now)
            if self._idle():
                return

    def _install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return None
        previous = {}
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
            previous[signum] = signal.signal(signum, self._on_signal)
        return previous

    def run(self, *, shutdown_when_idle: bool = True) -> int:
        """Visit the included descriptions and supervise the processes; return the exit code."""
        previous_handlers = None
        try:
            if not self._dry_run:
                self._open_log()
                if self._log_dir is not None:
                    self._log('INFO', 'launch', 'All log files can be found below {}'.format(
                        self._log_dir))
                self._log('INFO', 'launch', 'Default logging verbosity is set to INFO')
                previous_handlers = self._install_signal_handlers()
            for entity in self._entities:
                with self.__context._scoped_locals():
                    if not self._visit_safely(entity):
                        break
            if self._dry_run:
                while any(not t.cancelled for t in self._timers):
                    timers, self._timers = self._timers, []
                    for timer in timers:
                        if not timer.cancelled:
                            timer.callback()
                return 1 if self._failed else 0
            self._loop()
            return 1 if self._failed else 0
        finally:
            # After SIGTERM/SIGQUIT the processes are left alone, as the real launch leaves
            # them; if the stand-in itself failed, they are killed.
            if not self._cancelled:
                for record in self._running():
                    self._send_signal(record, signal.SIGKILL)
            if previous_handlers:
                for signum, handler in previous_handlers.items():
                    signal.signal(signum, handler)
            if not self._dry_run:
                self._remove_temp_files()
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    def _remove_temp_files(self) -> None:
        close_quietly(os.unlink, self._temp_files)
        self._temp_files.clear()
