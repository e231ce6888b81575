"""The LaunchService: visits a launch description and supervises the processes it starts."""

import ctypes
import datetime
import itertools
import os
import pty
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from typing import Dict
from typing import List
from typing import Optional
from typing import Text

from .events import Shutdown as ShutdownEvent
from .events.process import ProcessExited
from .events.process import ProcessStarted
from .launch_context import LaunchContext
from .launch_description_entity import LaunchDescriptionEntity

_process_counter = itertools.count(1)
_process_counter_lock = threading.Lock()
_PR_SET_PDEATHSIG = 1
_libc = None


def _load_libc():
    global _libc
    if _libc is None and sys.platform.startswith('linux'):
        try:
            _libc = ctypes.CDLL(None, use_errno=True)
        except OSError:
            _libc = False
    return _libc


def _child_setup() -> None:
    # Runs in the child between fork and exec: ask the kernel to send SIGTERM to the child if
    # the launch process dies without shutting it down (e.g. when it is killed with SIGKILL).
    libc = _libc
    if libc:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


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


class _Process:
    """One process started by an ExecuteProcess action (respawns reuse the record)."""

    def __init__(self, action, spec, label: Text) -> None:
        self.action = action
        self.spec = spec
        self.label = label
        self.popen: Optional[subprocess.Popen] = None
        self.pid: Optional[int] = None
        self.running = False
        self.returncode: Optional[int] = None
        self.signals_sent: Dict[str, float] = {}
        self.retries = 0


class LaunchService:
    """
    Run launch descriptions: visit their entities in order and supervise the processes.

    The launch runs until every process has exited and no timer is pending. SIGINT or SIGTERM
    (or a Shutdown action) begin a shutdown: every running process gets SIGINT, then SIGTERM
    after ``sigterm_timeout`` seconds (launch configuration, default 5) and SIGKILL after
    ``sigkill_timeout`` more seconds (default 5). A second SIGINT escalates at once.
    Child processes run in their own process groups (so a terminal's Ctrl-C reaches them only
    once, through the launch) and get SIGTERM from the kernel if the launch process dies.
    """

    def __init__(self, *, argv: Optional[List[Text]] = None, noninteractive: bool = False,
                 debug: bool = False, _dry_run: bool = False) -> None:
        self.__context = LaunchContext(argv=argv, noninteractive=noninteractive)
        self.__context._launch_service = self
        self.__debug = debug
        self._dry_run = _dry_run
        self._entities: List[LaunchDescriptionEntity] = []
        self._handlers: List = []
        self._processes: List[_Process] = []
        self._timers: List[_Timer] = []
        self._events: 'queue.Queue' = queue.Queue()
        self._signals: List[int] = []
        self._signal_count = 0
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
            context._push_locals()
            try:
                self._visit(sub_entity)
            finally:
                context._pop_locals()

    def _visit_safely(self, entity: LaunchDescriptionEntity) -> bool:
        try:
            self._visit(entity)
            return True
        except Exception as exc:
            self._failed = True
            self._log('ERROR', 'launch',
                      'Caught exception in launch (see debug for traceback): {}'.format(exc))
            if self.__debug:
                for line in traceback.format_exc().rstrip().splitlines():
                    self._log('DEBUG', 'launch', line)
            self._begin_shutdown('exception in launch: {}'.format(exc))
            return False

    def _visit_entities(self, entities) -> None:
        context = self.__context
        for entity in entities or []:
            context._push_locals()
            try:
                self._visit_safely(entity)
            finally:
                context._pop_locals()

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
            context._push_locals()
            try:
                try:
                    entities = handler.handle(event, context)
                except Exception as exc:
                    self._failed = True
                    self._log('ERROR', 'launch', 'Caught exception in event handler {}: {}'.format(
                        handler.describe(), exc))
                    continue
                self._visit_entities(entities)
            finally:
                context._pop_locals()

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
        record = _Process(action, spec, label)
        self._processes.append(record)
        self._spawn(record)

    def _spawn(self, record: _Process) -> None:
        spec = record.spec
        _load_libc()
        masters = []
        if spec.emulate_tty:
            out_master, out_slave = pty.openpty()
            err_master, err_slave = pty.openpty()
            masters = [out_master, err_master]
            stdout, stderr = out_slave, err_slave
        else:
            stdout = stderr = subprocess.PIPE
        args = ' '.join(spec.cmd) if spec.shell else spec.cmd
        try:
            popen = subprocess.Popen(
                args, cwd=spec.cwd, env=spec.env, shell=spec.shell, stdin=subprocess.DEVNULL,
                stdout=stdout, stderr=stderr, start_new_session=True, preexec_fn=_child_setup)
        except OSError:
            for fd in masters:
                os.close(fd)
            raise
        finally:
            if spec.emulate_tty:
                os.close(stdout)
                os.close(stderr)
        if spec.emulate_tty:
            fds = [(masters[0], 'stdout'), (masters[1], 'stderr')]
        else:
            fds = [(popen.stdout.fileno(), 'stdout'), (popen.stderr.fileno(), 'stderr')]
        record.popen = popen
        record.pid = popen.pid
        record.running = True
        record.returncode = None
        record.signals_sent = {}
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

    def _read_output(self, record: _Process, fd: int, stream: Text) -> None:
        to_screen = record.spec.output in ('screen', 'both') or stream == 'stderr'
        pending = b''
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b'\n')
            for line in lines:
                self._output_line(record, line, to_screen)
        if pending:
            self._output_line(record, pending, to_screen)

    def _output_line(self, record: _Process, raw: bytes, to_screen: bool) -> None:
        text = raw.decode('utf-8', errors='replace').rstrip('\r')
        self._write('[{}] {}'.format(record.label, text), screen=to_screen)

    def _wait_process(self, record: _Process, popen: subprocess.Popen, readers, masters) -> None:
        returncode = popen.wait()
        for reader in readers:
            reader.join(timeout=1.0)
        for fd in masters:
            try:
                os.close(fd)
            except OSError:
                pass
        for pipe in (popen.stdout, popen.stderr):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass
        self._events.put(('exit', record, returncode))

    def _on_process_exit(self, record: _Process, returncode: int) -> None:
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
        if returncode != 0 and not self._shutting_down and not will_respawn:
            self._failed = True
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

    def _send_signal(self, record: _Process, sig: signal.Signals) -> None:
        if not record.running:
            return
        self._log('INFO', record.label, "sending signal '{}' to process[{}]".format(
            sig.name, record.label))
        record.signals_sent[sig.name] = time.monotonic()
        try:
            os.killpg(record.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(record.pid, sig)
            except ProcessLookupError:
                pass

    def _running(self) -> List[_Process]:
        return [p for p in self._processes if p.running]

    # ----------------------------------------------------------------- shutdown
    def _begin_shutdown(self, reason: Text, *, event=None) -> None:
        if self._shutting_down:
            return
        self._shutting_down = True
        self.__context._is_shutdown = True
        for timer in self._timers:
            if timer.cancel_on_shutdown:
                timer.cancelled = True
        self._dispatch(event if event is not None else ShutdownEvent(reason=reason))
        for record in self._running():
            self._send_signal(record, signal.SIGINT)

    def _escalate(self, now: float) -> None:
        for record in self._running():
            sent = record.signals_sent
            if 'SIGKILL' in sent:
                continue
            if 'SIGTERM' in sent:
                if now - sent['SIGTERM'] >= record.spec.sigkill_timeout:
                    self._log('ERROR', record.label,
                              "process[{}] failed to terminate '{}' seconds after receiving "
                              "'SIGTERM', escalating to 'SIGKILL'".format(
                                  record.label, record.spec.sigkill_timeout))
                    self._send_signal(record, signal.SIGKILL)
            elif 'SIGINT' in sent and now - sent['SIGINT'] >= record.spec.sigterm_timeout:
                self._log('ERROR', record.label,
                          "process[{}] failed to terminate '{}' seconds after receiving "
                          "'SIGINT', escalating to 'SIGTERM'".format(
                              record.label, record.spec.sigterm_timeout))
                self._send_signal(record, signal.SIGTERM)

    def _on_signal(self, signum, frame) -> None:
        self._signals.append(signum)

    def _handle_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            self._signal_count += 1
            name = signal.Signals(signum).name
            if not self._shutting_down:
                if signum == signal.SIGINT:
                    self._log('WARNING', 'launch', 'user interrupted with ctrl-c (SIGINT)')
                else:
                    self._log('WARNING', 'launch', 'received {}, shutting down'.format(name))
                self._begin_shutdown('received {}'.format(name))
                continue
            escalate_to = signal.SIGTERM if self._signal_count == 2 else signal.SIGKILL
            self._log('WARNING', 'launch', '{} received again, sending {} to the processes'.format(
                name, escalate_to.name))
            for record in self._running():
                if escalate_to.name not in record.signals_sent:
                    self._send_signal(record, escalate_to)

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
        for signum in (signal.SIGINT, signal.SIGTERM):
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
                self.__context._push_locals()
                try:
                    ok = self._visit_safely(entity)
                finally:
                    self.__context._pop_locals()
                if not ok:
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
        for path in self._temp_files:
            try:
                os.unlink(path)
            except OSError:
                pass
        self._temp_files.clear()
