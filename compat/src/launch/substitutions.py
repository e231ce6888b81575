"""Substitutions of the launch API supported by the stand-in."""

import builtins
import importlib
import math
import os
import shlex
import shutil
import subprocess
from typing import Iterable
from typing import List
from typing import Optional
from typing import Text
import uuid

from ._compat import check_newer_api
from ._compat import make_module_getattr
from .substitution import Substitution
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


def _newer(name: str):
    def load():
        from . import _substitutions_newer
        return getattr(_substitutions_newer, name)
    return load, _SINCE_IRON


__getattr__ = make_module_getattr(__name__, newer={
    'EqualsSubstitution': _newer('EqualsSubstitution'),
    'IfElseSubstitution': _newer('IfElseSubstitution'),
})


class SubstitutionFailure(RuntimeError):
    """Raised when a substitution cannot be evaluated."""


class TextSubstitution(Substitution):
    """Constant text."""

    def __init__(self, *, text: Text) -> None:
        if not isinstance(text, str):
            raise TypeError("TextSubstitution expects 'text' to be str, got {!r}".format(text))
        self.__text = text

    @property
    def text(self) -> Text:
        """Getter for the text."""
        return self.__text

    def describe(self) -> Text:
        """Return the text quoted."""
        return "'{}'".format(self.__text)

    def perform(self, context) -> Text:
        """Return the text."""
        return self.__text


class LaunchConfiguration(Substitution):
    """The value of a launch configuration (launch argument), with an optional default."""

    def __init__(self, variable_name, *, default=None) -> None:
        self.__variable_name = normalize_to_list_of_substitutions(variable_name)
        if default is None:
            self.__default = None
        else:
            items = [default] if isinstance(default, (str, Substitution)) else None
            if items is None:
                try:
                    items = list(iter(default))
                except TypeError:
                    items = [default]
            self.__default = normalize_to_list_of_substitutions(
                [item if isinstance(item, (str, Substitution)) else str(item) for item in items])

    @property
    def variable_name(self) -> List[Substitution]:
        """Getter for the name, as a list of substitutions."""
        return self.__variable_name

    @property
    def default(self) -> Optional[List[Substitution]]:
        """Getter for the default, as a list of substitutions, or None."""
        return self.__default

    def describe(self) -> Text:
        """Return a description like the real one."""
        return 'LaunchConfig({})'.format(' + '.join(s.describe() for s in self.__variable_name))

    def perform(self, context) -> Text:
        """Return the configuration's value, or the default; fail when neither exists."""
        name = perform_substitutions(context, self.__variable_name)
        if name in context.launch_configurations:
            return context.launch_configurations[name]
        if self.__default is not None:
            return perform_substitutions(context, self.__default)
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
        self.__substitutions = parts

    @property
    def substitutions(self) -> List:
        """Getter for the path components."""
        return self.__substitutions

    def describe(self) -> Text:
        """Return a description of the components."""
        return 'PathJoin({})'.format(', '.join(
            repr(p) if isinstance(p, str) else (p.describe() if isinstance(p, Substitution)
                                                else ' + '.join(s.describe() for s in p))
            for p in self.__substitutions))

    def perform(self, context) -> Text:
        """Join the evaluated components."""
        return os.path.join(*[_join_part(context, part) for part in self.__substitutions])

    def __truediv__(self, other) -> 'PathJoinSubstitution':
        check_newer_api("the '/' operator of PathJoinSubstitution",
                        'Kilted and later; Humble only from launch 1.0.9, June 2025', TypeError)
        return PathJoinSubstitution(self.__substitutions + [other])


_SAFE_BUILTINS = {
    name: getattr(builtins, name)
    for name in ('abs', 'all', 'any', 'bool', 'dict', 'divmod', 'float', 'int', 'len', 'list',
                 'max', 'min', 'pow', 'range', 'round', 'set', 'sorted', 'str', 'sum', 'tuple',
                 'zip', 'True', 'False', 'None')
}


class PythonExpression(Substitution):
    """
    Evaluate a Python expression and return ``str()`` of the result.

    Unlike the real one, only a few harmless builtins are available (len, int, float, str,
    min, max, ...); the names of ``math`` are available directly and as ``math.<name>``, and the
    modules named in ``python_modules`` are available by name.
    """

    def __init__(self, expression, python_modules=('math',)) -> None:
        self.__expression = normalize_to_list_of_substitutions(expression)
        self.__python_modules = [normalize_to_list_of_substitutions(m) for m in python_modules]

    @property
    def expression(self) -> List[Substitution]:
        """Getter for the expression."""
        return self.__expression

    def describe(self) -> Text:
        """Return a description of the expression."""
        return 'PythonExpr({})'.format(' + '.join(s.describe() for s in self.__expression))

    def perform(self, context) -> Text:
        """Evaluate the expression with the restricted builtins."""
        namespace = {}
        for module_subs in self.__python_modules:
            module_name = perform_substitutions(context, module_subs)
            module = importlib.import_module(module_name)
            if module is math:
                namespace.update({k: v for k, v in vars(math).items() if not k.startswith('_')})
            namespace[module_name] = module
        expression = perform_substitutions(context, self.__expression)
        try:
            value = eval(expression, {'__builtins__': dict(_SAFE_BUILTINS)}, namespace)
        except Exception as exc:
            raise SubstitutionFailure("PythonExpression '{}' failed: {}: {}".format(
                expression, type(exc).__name__, exc)) from exc
        return str(value)


class EnvironmentVariable(Substitution):
    """The value of an environment variable of the launch (``default_value`` when unset)."""

    def __init__(self, name, *, default_value='') -> None:
        self.__name = normalize_to_list_of_substitutions(name)
        self.__default_value = (None if default_value is None
                                else normalize_to_list_of_substitutions(default_value))

    @property
    def name(self) -> List[Substitution]:
        """Getter for the variable name."""
        return self.__name

    def describe(self) -> Text:
        """Return a description."""
        return 'EnvVar({})'.format(' + '.join(s.describe() for s in self.__name))

    def perform(self, context) -> Text:
        """Return the variable's value from the launch environment."""
        name = perform_substitutions(context, self.__name)
        value = context.environment.get(name)
        if value is not None:
            return value
        if self.__default_value is None:
            raise SubstitutionFailure("environment variable '{}' does not exist".format(name))
        return perform_substitutions(context, self.__default_value)


class ThisLaunchFileDir(Substitution):
    """The directory of the launch file being processed."""

    def describe(self) -> Text:
        """Return a description."""
        return 'ThisLaunchFileDir()'

    def perform(self, context) -> Text:
        """Return the directory, taken from the context's locals."""
        try:
            return context.locals.current_launch_file_directory
        except AttributeError:
            raise SubstitutionFailure(
                'ThisLaunchFileDir used outside of a launch file (in a script?)') from None


class ThisLaunchFile(Substitution):
    """The path of the launch file being processed."""

    def describe(self) -> Text:
        """Return a description."""
        return 'ThisLaunchFile()'

    def perform(self, context) -> Text:
        """Return the path, taken from the context's locals."""
        try:
            return context.locals.current_launch_file_path
        except AttributeError:
            raise SubstitutionFailure(
                'ThisLaunchFile used outside of a launch file (in a script?)') from None


class AnonName(Substitution):
    """A name made unique for this launch; the same name gives the same result."""

    def __init__(self, name) -> None:
        self.__name = normalize_to_list_of_substitutions(name)

    def describe(self) -> Text:
        """Return a description."""
        return 'AnonName({})'.format(' + '.join(s.describe() for s in self.__name))

    def perform(self, context) -> Text:
        """Return the unique name, creating it on first use."""
        name = perform_substitutions(context, self.__name)
        key = 'anon' + name
        if key not in context.launch_configurations:
            context.launch_configurations[key] = '{}_{}'.format(name, uuid.uuid4().hex[:16])
        return context.launch_configurations[key]


class LocalSubstitution(Substitution):
    """The value of ``context.locals.<expression>``."""

    def __init__(self, expression: Text, description: Optional[Text] = None) -> None:
        self.__expression = expression
        self.__description = description

    def describe(self) -> Text:
        """Return a description."""
        return self.__description or 'LocalVar({!r})'.format(self.__expression)

    def perform(self, context) -> Text:
        """Evaluate the expression on the context's locals."""
        try:
            return str(eval('locals.' + self.__expression, {'__builtins__': {}},
                            {'locals': context.locals}))
        except Exception as exc:
            raise SubstitutionFailure("local '{}' not found: {}".format(self.__expression, exc))


class FindExecutable(Substitution):
    """The full path of an executable found on the launch environment's PATH."""

    def __init__(self, *, name) -> None:
        self.__name = normalize_to_list_of_substitutions(name)

    def describe(self) -> Text:
        """Return a description."""
        return 'FindExec({})'.format(' + '.join(s.describe() for s in self.__name))

    def perform(self, context) -> Text:
        """Search PATH for the executable."""
        name = perform_substitutions(context, self.__name)
        path = shutil.which(name, path=context.environment.get('PATH', os.defpath))
        if path is None:
            raise SubstitutionFailure("executable '{}' not found on the PATH".format(name))
        return path


class Command(Substitution):
    """The standard output of a command run when the substitution is performed."""

    def __init__(self, command, *, on_stderr='fail') -> None:
        if isinstance(command, (str, Substitution)):
            command = [command]
        self.__command = [normalize_to_list_of_substitutions(part) for part in command]
        self.__on_stderr = normalize_to_list_of_substitutions(on_stderr)

    def describe(self) -> Text:
        """Return a description."""
        return 'Command({})'.format(
            ' '.join(' + '.join(s.describe() for s in part) for part in self.__command))

    def perform(self, context) -> Text:
        """Run the command (split like a shell would) and return what it wrote to stdout."""
        text = ' '.join(perform_substitutions(context, part) for part in self.__command)
        on_stderr = perform_substitutions(context, self.__on_stderr)
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


def _to_bool(context, subs, what: Text) -> bool:
    text = perform_substitutions(context, subs).strip().lower()
    if text in ('true', '1'):
        return True
    if text in ('false', '0'):
        return False
    raise SubstitutionFailure("{}: invalid boolean '{}', expected true, false, 1 or 0".format(
        what, text))


class NotSubstitution(Substitution):
    """Logical not of a boolean text ('true'/'false'/'1'/'0')."""

    def __init__(self, value) -> None:
        self.__value = normalize_to_list_of_substitutions(value)

    def perform(self, context) -> Text:
        """Return 'true' or 'false'."""
        return str(not _to_bool(context, self.__value, 'NotSubstitution')).lower()


class AndSubstitution(Substitution):
    """Logical and of two boolean texts."""

    def __init__(self, left, right) -> None:
        self.__left = normalize_to_list_of_substitutions(left)
        self.__right = normalize_to_list_of_substitutions(right)

    def perform(self, context) -> Text:
        """Return 'true' or 'false'."""
        return str(_to_bool(context, self.__left, 'AndSubstitution')
                   and _to_bool(context, self.__right, 'AndSubstitution')).lower()


class OrSubstitution(Substitution):
    """Logical or of two boolean texts."""

    def __init__(self, left, right) -> None:
        self.__left = normalize_to_list_of_substitutions(left)
        self.__right = normalize_to_list_of_substitutions(right)

    def perform(self, context) -> Text:
        """Return 'true' or 'false'."""
        return str(_to_bool(context, self.__left, 'OrSubstitution')
                   or _to_bool(context, self.__right, 'OrSubstitution')).lower()
