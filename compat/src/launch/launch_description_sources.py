"""Launch description sources: Python launch files (XML and YAML are not supported)."""

import importlib.util
import os
import re
from typing import Text

from ._compat import make_module_getattr
from ._compat import unsupported
from .launch_description import LaunchDescription
from .launch_description_source import LaunchDescriptionSource

__all__ = [
    'AnyLaunchDescriptionSource', 'InvalidPythonLaunchFileError', 'LaunchDescriptionSource',
    'PythonLaunchDescriptionSource', 'get_launch_description_from_python_launch_file',
    'load_python_launch_file_as_module',
]

__getattr__ = make_module_getattr(__name__)


class InvalidPythonLaunchFileError(Exception):
    """Raised when a Python launch file lacks generate_launch_description()."""


def load_python_launch_file_as_module(python_launch_file_path: Text):
    """Import a Python launch file as a module and return the module."""
    path = os.path.abspath(python_launch_file_path)
    if not os.path.isfile(path):
        raise FileNotFoundError("launch file '{}' does not exist".format(path))
    module_name = 'python_launch_file__' + re.sub(r'\W', '_', path)
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise InvalidPythonLaunchFileError("cannot load '{}' as Python".format(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def get_launch_description_from_python_launch_file(
        python_launch_file_path: Text) -> LaunchDescription:
    """Load a Python launch file and return what its generate_launch_description() returns."""
    module = load_python_launch_file_as_module(python_launch_file_path)
    if not hasattr(module, 'generate_launch_description'):
        raise InvalidPythonLaunchFileError(
            "launch file at '{}' does not contain the required function "
            "'generate_launch_description()'".format(python_launch_file_path))
    description = module.generate_launch_description()
    if not isinstance(description, LaunchDescription):
        raise InvalidPythonLaunchFileError(
            "generate_launch_description() of '{}' returned {!r}, not a LaunchDescription".format(
                python_launch_file_path, description))
    return description


class PythonLaunchDescriptionSource(LaunchDescriptionSource):
    """A launch description loaded from a Python launch file (path may be substitutions)."""

    def __init__(self, launch_file_path) -> None:
        super().__init__(None, launch_file_path, 'interpreted python launch file')

    def _load(self, location: Text) -> LaunchDescription:
        return get_launch_description_from_python_launch_file(location)


def _check_python_path(location: Text) -> None:
    if not location.endswith('.py'):
        raise unsupported(
            "launch files other than Python ('{}'); XML and YAML launch files".format(location))


class AnyLaunchDescriptionSource(LaunchDescriptionSource):
    """A launch file of any format; the stand-in loads Python files only."""

    def __init__(self, launch_file_path) -> None:
        super().__init__(None, launch_file_path, 'interpreted launch file')

    def _load(self, location: Text) -> LaunchDescription:
        _check_python_path(location)
        return get_launch_description_from_python_launch_file(location)
