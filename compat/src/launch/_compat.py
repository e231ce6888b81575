"""Helpers shared by the stand-in packages: the error raised for features they do not implement."""

import importlib
import importlib.abc
import importlib.util
import os
import sys
from typing import Callable


class UnsupportedFeatureError(ImportError, NotImplementedError):
    """
    A feature of the real launch API that the stand-in does not implement.

    It is a NotImplementedError; it is also an ImportError so that launch files which try an
    import and fall back to another name (``except ImportError``) keep working.
    """


def unsupported(feature: str) -> UnsupportedFeatureError:
    """Return the error raised when a launch file uses a feature the stand-in lacks."""
    return UnsupportedFeatureError(
        'repose_ros compat launch does not support {}; install ROS 2 launch'.format(feature))


def make_module_getattr(module_name: str) -> Callable[[str], object]:
    """
    Build a module-level ``__getattr__`` that reports unknown public names as unsupported.

    Private and dunder names raise AttributeError as usual, so introspection keeps working;
    ``from <module> import Name`` of a name the real package has but the stand-in lacks raises
    NotImplementedError with a message naming the feature.
    """
    def __getattr__(name: str) -> object:
        if name.startswith('_'):
            raise AttributeError('module {!r} has no attribute {!r}'.format(module_name, name))
        try:  # a submodule that was not imported yet, e.g. ``from launch import logging``
            if importlib.util.find_spec('{}.{}'.format(module_name, name)) is not None:
                return importlib.import_module('{}.{}'.format(module_name, name))
        except ImportError:
            pass
        raise unsupported('{}.{}'.format(module_name, name))
    return __getattr__


_COMPAT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _UnsupportedSubmoduleFinder(importlib.abc.MetaPathFinder):
    """Last finder on sys.meta_path: missing submodules of the stand-ins are unsupported."""

    def find_spec(self, fullname, path=None, target=None):
        """Raise the unsupported-feature error for launch.X / launch_ros.X that do not exist."""
        root = fullname.split('.', 1)[0]
        if root not in ('launch', 'launch_ros') or '.' not in fullname:
            return None
        module_file = getattr(sys.modules.get(root), '__file__', None) or ''
        if not os.path.abspath(module_file).startswith(_COMPAT_ROOT + os.sep):
            return None
        raise unsupported(fullname)


def install_submodule_finder() -> None:
    """Make ``import launch.<missing>`` raise the unsupported-feature error (idempotent)."""
    if not any(isinstance(finder, _UnsupportedSubmoduleFinder) for finder in sys.meta_path):
        sys.meta_path.append(_UnsupportedSubmoduleFinder())


install_submodule_finder()
