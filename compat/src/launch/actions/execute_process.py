"""The ExecuteProcess action: run a process as part of the launch."""

import os
import shlex
from typing import Dict
from typing import Iterable
from typing import List
from typing import NamedTuple
from typing import Optional
from typing import Text

from .._compat import getter
from .._compat import check_newer_api
from .._compat import unsupported
from ..action import Action
from ..conditions import evaluate_condition_expression
from ..event_handlers import OnProcessExit
from ..substitution import Substitution
from ..substitutions import LaunchConfiguration
from ..utilities import _optional_substitutions
from ..utilities import _perform_pairs
from ..utilities import _substitution_pairs
from ..utilities import normalize_to_list_of_substitutions
from ..utilities import perform_substitutions

DEFAULT_OUTPUT_FORMAT = '[{this.process_description.final_name}] {line}'
_OUTPUT_MODES = ('screen', 'log', 'both')


class ProcessSpec(NamedTuple):
    """Everything the launch service needs to start one process (evaluated, plain values)."""

    name: Text
    cmd: List[Text]
    cwd: Optional[Text]
    env: Dict[Text, Text]
    shell: bool
    output: Text
    emulate_tty: bool
    sigterm_timeout: float
    sigkill_timeout: float
    sigterm_timeout_text: Text
    respawn: bool
    respawn_delay: float
    respawn_max_retries: int
    log_cmd: bool


def _evaluate_bool(context, value, what: Text) -> bool:
    if isinstance(value, bool):
        return value
    try:
        return evaluate_condition_expression(context, normalize_to_list_of_substitutions(value))
    except Exception as exc:
        raise ValueError('{}: {}'.format(what, exc)) from exc


def _evaluate_float(context, value, what: Text) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = perform_substitutions(context, normalize_to_list_of_substitutions(value))
    try:
        return float(text)
    except ValueError:
        raise ValueError("{} must be a number, got '{}'".format(what, text)) from None


class ExecuteProcess(Action):
    """
    Run a process: ``cmd`` is a list whose items are text or substitutions.

    Supported: name, cwd, env, additional_env, shell, prefix (and the 'launch-prefix' launch
    configuration), output ('screen', 'log', 'both'), emulate_tty, sigterm_timeout,
    sigkill_timeout (text or substitutions, as in the real launch: a number is a TypeError),
    respawn, respawn_delay, respawn_max_retries (Jazzy and later: refused when
    REPOSE_COMPAT_DISTRO=humble), on_exit, log_cmd and cached_output (accepted, ignored).
    A custom ``output_format`` is not supported.
    """

    def __init__(self, *, cmd: Iterable, prefix=None, name=None, cwd=None,
                 env: Optional[Dict] = None, additional_env: Optional[Dict] = None,
                 shell: bool = False, sigterm_timeout=None, sigkill_timeout=None,
                 emulate_tty=False, output='log', output_format: Text = DEFAULT_OUTPUT_FORMAT,
                 cached_output: bool = False, log_cmd: bool = False, on_exit=None,
                 respawn=False, respawn_delay: Optional[float] = None,
                 respawn_max_retries: Optional[int] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if respawn_max_retries is None:
            respawn_max_retries = -1
        else:
            check_newer_api("ExecuteProcess(respawn_max_retries=...)", 'Jazzy and later', TypeError)
        if output_format != DEFAULT_OUTPUT_FORMAT:
            raise unsupported('ExecuteProcess(output_format=...)')
        if isinstance(cmd, (str, Substitution)):
            cmd = [cmd]
        self._cmd = [normalize_to_list_of_substitutions(part) for part in cmd]
        self._prefix = _optional_substitutions(prefix)
        self._name = _optional_substitutions(name)
        self._cwd = _optional_substitutions(cwd)
        self._env = None if env is None else _substitution_pairs(env)
        self._additional_env = _substitution_pairs(additional_env or {})
        self._shell = shell
        self._sigterm_timeout = normalize_to_list_of_substitutions(
            LaunchConfiguration('sigterm_timeout', default=5)
            if sigterm_timeout is None else sigterm_timeout)
        self._sigkill_timeout = normalize_to_list_of_substitutions(
            LaunchConfiguration('sigkill_timeout', default=5)
            if sigkill_timeout is None else sigkill_timeout)
        self._emulate_tty = emulate_tty
        if isinstance(output, dict):
            raise unsupported('ExecuteProcess(output={...}) (a dict output configuration)')
        self._output = normalize_to_list_of_substitutions(output)
        self._log_cmd = log_cmd
        self._on_exit = on_exit
        self._respawn = respawn
        self._respawn_delay = 0.0 if respawn_delay is None else respawn_delay
        self._respawn_max_retries = respawn_max_retries
        self._final_name: Optional[Text] = None
        self._process_details: Optional[Dict] = None

    cmd = getter('_cmd', 'Getter for the command (one list of substitutions per argument).')
    name = getter(
        '_final_name', 'Getter for the process label (e.g. \'talker-1\') once the process was started.')

    cwd = getter('_cwd', 'Getter for the working directory (substitutions) or None.')
    shell = getter('_shell', 'Getter for shell.')
    output = getter('_output', 'Getter for the output mode (substitutions).')
    process_details = getter(
        '_process_details', 'Getter for name, cmd, cwd, env and pid of the process, once executed.')

    def _set_final_name(self, label: Text) -> None:
        self._final_name = label
        if self._process_details is not None:
            self._process_details['name'] = label

    def _set_pid(self, pid: int) -> None:
        if self._process_details is not None:
            self._process_details['pid'] = pid

    def _compat_build_cmd(self, context) -> List[Text]:
        """Evaluate the command line (Node extends this with the ROS arguments)."""
        return [perform_substitutions(context, part) for part in self._cmd]

    def _compat_prepare(self, context) -> ProcessSpec:
        """Evaluate every setting of the action into a ProcessSpec."""
        cmd = self._compat_build_cmd(context)
        prefix = self._prefix
        if prefix is None and 'launch-prefix' in context.launch_configurations:
            prefix = normalize_to_list_of_substitutions(context.launch_configurations['launch-prefix'])
        if prefix is not None:
            cmd = shlex.split(perform_substitutions(context, prefix)) + cmd
        if self._name is not None:
            name = perform_substitutions(context, self._name)
        else:
            name = os.path.basename(cmd[0]) if cmd else 'process'
        cwd = None if self._cwd is None else perform_substitutions(context, self._cwd)
        env = dict(context.environment) if self._env is None else _perform_pairs(context, self._env)
        env.update(_perform_pairs(context, self._additional_env))
        env.setdefault('PYTHONUNBUFFERED', '1')
        output = perform_substitutions(context, self._output)
        override = os.environ.get('OVERRIDE_LAUNCH_PROCESS_OUTPUT')
        if override:
            output = override
        if output not in _OUTPUT_MODES:
            raise unsupported("ExecuteProcess(output='{}') (supported: {})".format(
                output, ', '.join(_OUTPUT_MODES)))
        sigterm_text = perform_substitutions(context, self._sigterm_timeout)
        emulate_tty = self._emulate_tty
        if 'emulate_tty' in context.launch_configurations:
            emulate_tty = context.launch_configurations['emulate_tty']
        return ProcessSpec(
            name=name, cmd=cmd, cwd=cwd, env=env, shell=bool(self._shell), output=output,
            emulate_tty=_evaluate_bool(context, emulate_tty, 'emulate_tty'),
            sigterm_timeout=_evaluate_float(context, sigterm_text, 'sigterm_timeout'),
            sigkill_timeout=_evaluate_float(context, self._sigkill_timeout, 'sigkill_timeout'),
            sigterm_timeout_text=sigterm_text,
            respawn=_evaluate_bool(context, self._respawn, 'respawn'),
            respawn_delay=_evaluate_float(context, self._respawn_delay, 'respawn_delay'),
            respawn_max_retries=int(self._respawn_max_retries),
            log_cmd=bool(self._log_cmd))

    def execute(self, context) -> None:
        """Evaluate the settings and hand the process to the launch service to start."""
        if context.is_shutdown:
            return None
        spec = self._compat_prepare(context)
        self._process_details = {'name': spec.name, 'cmd': list(spec.cmd), 'cwd': spec.cwd,
                                 'env': dict(spec.env), 'pid': None}
        service = context._launch_service
        if service is None:
            raise RuntimeError('ExecuteProcess needs a running launch service (LaunchService)')
        if self._on_exit is not None:
            context.register_event_handler(OnProcessExit(target_action=self, on_exit=self._on_exit))
        service._start_process(self, spec)
        return None
