"""Substitutions of the launch API supported by the stand-in."""

import builtins
import importlib
import math
import os
import shlex
import shutil
import subprocess
from typing import Iterable
from typing import Optional
from typing import Text
import uuid

from ._compat import check_newer_api
from ._compat import getter
from ._compat import make_module_getattr
from ._substitutions_newer import EqualsSubstitution as _EqualsSubstitution
from ._substitutions_newer import IfElseSubstitution as _IfElseSubstitution
from .substitution import Substitution
from .substitution import SubstitutionFailure
from .substitution import TextSubstitution
from .utilities import _describe
from .utilities import _optional_substitutions
from .utilities import _to_bool
from .utilities import normalize_to_list_of_substitutions
from .utilities import perform_substitutions

# The names of Humble's launch.substitutions. EqualsSubstitution and IfElseSubstitution (Iron and
# later) come from __getattr__ so that REPOSE_COMPAT_DISTRO=humble can refuse them.
__all__ = [
    'AndSubstitution', 'AnonName', 'Command', 'EnvironmentVariable', 'FindExecutable',
    'LaunchConfiguration', 'LocalSubstitution', 'NotSubstitution', 'OrSubstitution',
    'PathJoinSubstitution', 'PythonExpression', 'SubstitutionFailure', 'TextSubstitution',
    'ThisLaunchFile', 'ThisLaunchFileDir',
]

_SINCE_IRON = 'Iron and later; Humble only from launch 1.0.9, June 2025'

__getattr__ = make_module_getattr(__name__, newer={
    'EqualsSubstitution': (lambda: _EqualsSubstitution, _SINCE_IRON),
    'IfElseSubstitution': (lambda: _IfElseSubstitution, _SINCE_IRON),
})


class _OneNameSubstitution(Substitution):
    """A substitution of one list of substitutions, described as ``<_LABEL>(<them>)``."""

    _LABEL = ''

    def __init__(self, subs) -> None:
        self._subs = normalize_to_list_of_substitutions(subs)

    def describe(self) -> Text:
        """Return a description like the real one."""
        return '{}({})'.format(self._LABEL, _describe(self._subs))


class LaunchConfiguration(_OneNameSubstitution):
    """The value of a launch configuration (launch argument), with an optional default."""

    _LABEL = 'LaunchConfig'

    def __init__(self, variable_name, *, default=None) -> None:
        super().__init__(variable_name)
        if default is not None and not isinstance(default, (str, Substitution)):
            try:
                default = [item if isinstance(item, (str, Substitution)) else str(item)
                           for item in iter(default)]
            except TypeError:
                default = str(default)
        self._default = _optional_substitutions(default)

    variable_name = getter('_subs', 'Getter for the name, as a list of substitutions.')
    default = getter('_default', 'Getter for the default, as a list of substitutions, or None.')

    def perform(self, context) -> Text:
        """Return the configuration's value, or the default; fail when neither exists."""
        name = perform_substitutions(context, self._subs)
        if name in context.launch_configurations:
            return context.launch_configurations[name]
        if self._default is not None:
            return perform_substitutions(context, self._default)
        raise SubstitutionFailure("launch configuration '{}' does not exist".format(name))


def _join_part(context, part) -> Text:
    return perform_substitutions(context, normalize_to_list_of_substitutions(part))


class PathJoinSubstitution(Substitution):
    """
    Join path components with ``os.path.join``.

    Each component is text or a substitution; a component that is itself a list of them
    (concatenated) is Kilted and later, and ``PathJoinSubstitution(...) / part`` is in Humble
    only from launch 1.0.9: both are refused when REPOSE_COMPAT_DISTRO=humble.
    """

    def __init__(self, substitutions: Iterable) -> None:
        if isinstance(substitutions, (str, Substitution)):
            substitutions = [substitutions]
        parts = []
        for part in substitutions:
            if not isinstance(part, (str, Substitution)):
                check_newer_api('PathJoinSubstitution with a list as one path component',
                                'Kilted and later', TypeError)
                part = normalize_to_list_of_substitutions(part)
            parts.append(part)
        self._substitutions = parts

    substitutions = getter('_substitutions', 'Getter for the path components.')

    def describe(self) -> Text:
        """Return a description of the components."""
        return 'PathJoin({})'.format(', '.join(
            repr(p) if isinstance(p, str) else (p.describe() if isinstance(p, Substitution)
                                                else _describe(p))
            for p in self._substitutions))

    def perform(self, context) -> Text:
        """Join the evaluated components."""
        return os.path.join(*[_join_part(context, part) for part in self._substitutions])

    def __truediv__(self, other) -> 'PathJoinSubstitution':
        check_newer_api("the '/' operator of PathJoinSubstitution",
                        'Kilted and later; Humble only from launch 1.0.9, June 2025', TypeError)
        return PathJoinSubstitution(self._substitutions + [other])


_SAFE_BUILTINS = {
    name: getattr(builtins, name)
    for name in ('abs', 'all', 'any', 'bool', 'dict', 'divmod', 'float', 'int', 'len', 'list',
                 'max', 'min', 'pow', 'range', 'round', 'set', 'sorted', 'str', 'sum', 'tuple',
                 'zip', 'True', 'False', 'None')
}


class PythonExpression(_OneNameSubstitution):
    """
    Evaluate a Python expression and return ``str()`` of the result.

    Unlike the real one, only a few harmless builtins are available (len, int, float, str,
    min, max, ...); the names of ``math`` are available directly and as ``math.<name>``, and the
    modules named in ``python_modules`` are available by name.
    """

    _LABEL = 'PythonExpr'

    def __init__(self, expression, python_modules=('math',)) -> None:
        super().__init__(expression)
        self._python_modules = [normalize_to_list_of_substitutions(m) for m in python_modules]

    expression = getter('_subs', 'Getter for the expression.')

    def perform(self, context) -> Text:
        """Evaluate the expression with the restricted builtins."""
        namespace = {}
        for module_subs in self._python_modules:
            module_name = perform_substitutions(context, module_subs)
            module = importlib.import_module(module_name)
            if module is math:
                namespace.update({k: v for k, v in vars(math).items() if not k.startswith('_')})
            namespace[module_name] = module
        expression = perform_substitutions(context, self._subs)
        try:
            value = eval(expression, {'__builtins__': dict(_SAFE_BUILTINS)}, namespace)
        except Exception as exc:
            raise SubstitutionFailure("PythonExpression '{}' failed: {}: {}".format(
                expression, type(exc).__name__, exc)) from exc
        return str(value)


class EnvironmentVariable(_OneNameSubstitution):
    """The value of an environment variable of the launch (``default_value`` when unset)."""

    _LABEL = 'EnvVar'

    def __init__(self, name, *, default_value='') -> None:
        super().__init__(name)
        self._default_value = _optional_substitutions(default_value)

    name = getter('_subs', 'Getter for the variable name.')

    def perform(self, context) -> Text:
        """Return the variable's value from the launch environment."""
        name = perform_substitutions(context, self._subs)
        value = context.environment.get(name)
        if value is not None:
            return value
        if self._default_value is None:
            raise SubstitutionFailure("environment variable '{}' does not exist".format(name))
        return perform_substitutions(context, self._default_value)


class _LaunchFileLocal(Substitution):
    """A value the launch file being processed puts in the context's locals."""

    _LOCAL = ''

    def describe(self) -> Text:
        """Return a description."""
        return '{}()'.format(type(self).__name__)

    def perform(self, context) -> Text:
        """Return the value, taken from the context's locals."""
        try:
            return getattr(context.locals, self._LOCAL)
        except AttributeError:
            raise SubstitutionFailure('{} used outside of a launch file (in a script?)'.format(
                type(self).__name__)) from None


ThisLaunchFileDir = type('ThisLaunchFileDir', (_LaunchFileLocal,), {
    '_LOCAL': 'current_launch_file_directory', '__module__': __name__,
    '__doc__': 'The directory of the launch file being processed.'})
ThisLaunchFile = type('ThisLaunchFile', (_LaunchFileLocal,), {
    '_LOCAL': 'current_launch_file_path', '__module__': __name__,
    '__doc__': 'The path of the launch file being processed.'})


class AnonName(_OneNameSubstitution):
    """A name made unique for this launch; the same name gives the same result."""

    _LABEL = 'AnonName'

    def __init__(self, name) -> None:
        super().__init__(name)

    def perform(self, context) -> Text:
        """Return the unique name, creating it on first use."""
        name = perform_substitutions(context, self._subs)
        key = 'anon' + name
        if key not in context.launch_configurations:
            context.launch_configurations[key] = '{}_{}'.format(name, uuid.uuid4().hex[:16])
        return context.launch_configurations[key]


class LocalSubstitution(Substitution):
    """The value of ``context.locals.<expression>``."""

    def __init__(self, expression: Text, description: Optional[Text] = None) -> None:
        self._expression = expression
        self._description = description

    def describe(self) -> Text:
        """Return a description."""
        return self._description or 'LocalVar({!r})'.format(self._expression)

    def perform(self, context) -> Text:
        """Evaluate the expression on the context's locals."""
        try:
            return str(eval('locals.' + self._expression, {'__builtins__': {}},
                            {'locals': context.locals}))
        except Exception as exc:
            raise SubstitutionFailure("local '{}' not found: {}".format(self._expression, exc))


class FindExecutable(_OneNameSubstitution):
    """The full path of an executable found on the launch environment's PATH."""

    _LABEL = 'FindExec'

    def __init__(self, *, name) -> None:
        super().__init__(name)

    def perform(self, context) -> Text:
        """Search PATH for the executable."""
        name = perform_substitutions(context, self._subs)
        path = shutil.which(name, path=context.environment.get('PATH', os.defpath))
        if path is None:
            raise SubstitutionFailure("executable '{}' not found on the PATH".format(name))
        return path


class Command(Substitution):
    """The standard output of a command run when the substitution is performed."""

    def __init__(self, command, *, on_stderr='fail') -> None:
        if isinstance(command, (str, Substitution)):
            command = [command]
        self._command = [normalize_to_list_of_substitutions(part) for part in command]
        self._on_stderr = normalize_to_list_of_substitutions(on_stderr)

    def describe(self) -> Text:
        """Return a description."""
        return 'Command({})'.format(' '.join(_describe(part) for part in self._command))

    def perform(self, context) -> Text:
        """Run the command (split like a shell would) and return what it wrote to stdout."""
        text = ' '.join(perform_substitutions(context, part) for part in self._command)
        on_stderr = perform_substitutions(context, self._on_stderr)
        if on_stderr not in ('fail', 'ignore', 'warn', 'capture'):
            raise SubstitutionFailure("invalid on_stderr value '{}'".format(on_stderr))
        try:
            result = subprocess.run(shlex.split(text), capture_output=True, text=True,
                                    env=dict(context.environment))
        except OSError as exc:
            raise SubstitutionFailure("executed command failed. Command: {}: {}".format(text, exc))
        if result.returncode != 0:
            raise SubstitutionFailure('executed command failed. Command: {}\nCaptured stderr output: {}'
                                      .format(text, result.stderr))
        output = result.stdout
        if result.stderr:
            if on_stderr == 'fail':
                raise SubstitutionFailure('executed command showed stderr output. Command: {}\n'
                                          'Captured stderr output: {}'.format(text, result.stderr))
            if on_stderr == 'warn' and context._launch_service is not None:
                context._launch_service._log('WARNING', 'launch', 'command {} wrote to stderr: {}'
                                             .format(text, result.stderr))
            if on_stderr == 'capture':
                output += result.stderr
        return output


class _BooleanSubstitution(Substitution):
    """Combine boolean texts ('true'/'false'/'1'/'0'), evaluated left to right, into one."""

    def __init__(self, *operands) -> None:
        self._operands = [normalize_to_list_of_substitutions(o) for o in operands]

    def _combine(self, values) -> bool:
        raise NotImplementedError

    def perform(self, context) -> Text:
        """Return 'true' or 'false'."""
        name = type(self).__name__
        return str(self._combine(_to_bool(context, o, name) for o in self._operands)).lower()


class NotSubstitution(_BooleanSubstitution):
    """Logical not of a boolean text ('true'/'false'/'1'/'0')."""

    def __init__(self, value) -> None:
        super().__init__(value)

    def _combine(self, values) -> bool:
        return not all(values)


class AndSubstitution(_BooleanSubstitution):
    """Logical and of two boolean texts (the right one is not evaluated when left is false)."""

    def __init__(self, left, right) -> None:
        super().__init__(left, right)

    def _combine(self, values) -> bool:
        return all(values)


class OrSubstitution(_BooleanSubstitution):
    """Logical or of two boolean texts (the right one is not evaluated when left is true)."""

    def __init__(self, left, right) -> None:
        super().__init__(left, right)

    def _combine(self, values) -> bool:
        return any(values)
