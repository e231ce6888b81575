"""Helpers shared by the stand-in packages: the error raised for features they do not implement."""

import importlib
import importlib.abc
import importlib.util
import operator
import os
import sys
from typing import Callable
from typing import Dict
from typing import Optional
from typing import Tuple

DISTRO_ENV = 'REPOSE_COMPAT_DISTRO'


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


class NotInDistroError(ImportError):
    """
    API of the real packages that is newer than the distribution named by REPOSE_COMPAT_DISTRO.

    Raised only when ``REPOSE_COMPAT_DISTRO=humble`` is set: then the stand-in refuses what a
    ROS 2 Humble installation may lack, so that launch files checked with it run on Humble.
    It is an ImportError, like ``from launch_ros.actions import PushROSNamespace`` on Humble.
    """


def target_distro() -> str:
    """Return the distribution the stand-in is told to emulate strictly ('' when none)."""
    return os.environ.get(DISTRO_ENV, '').strip().lower()


def check_newer_api(feature: str, since: str, error: type = NotInDistroError) -> None:
    """
    Refuse ``feature`` (newer than Humble, see ``since``) when REPOSE_COMPAT_DISTRO=humble.

    Without the variable every feature the stand-in implements is offered. ``error`` is the
    exception class Humble itself would raise (ImportError for a missing name, TypeError for
    a missing keyword argument or operator).
    """
    if target_distro() == 'humble':
        raise error('{} is not in ROS 2 Humble ({}); refused because {}=humble'.format(
            feature, since, DISTRO_ENV))


NewerNames = Dict[str, Tuple[Callable[[], object], str]]


def make_module_getattr(module_name: str,
                        newer: Optional[NewerNames] = None) -> Callable[[str], object]:
    """
    Build a module-level ``__getattr__`` that reports unknown public names as unsupported.

    Private and dunder names raise AttributeError as usual, so introspection keeps working;
    ``from <module> import Name`` of a name the real package has but the stand-in lacks raises
    NotImplementedError with a message naming the feature. ``newer`` maps names that are not
    in ROS 2 Humble to ``(loader, since)``: they are looked up here, on each access, so that
    REPOSE_COMPAT_DISTRO=humble refuses them (see check_newer_api).
    """
    def __getattr__(name: str) -> object:
        if newer and name in newer:
            loader, since = newer[name]
            check_newer_api('{}.{}'.format(module_name, name), since)
            return loader()
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


def getter(attribute: str, doc: str) -> property:
    """Return a read-only property that returns ``self.<attribute>`` (``doc`` documents it)."""
    return property(operator.attrgetter(attribute), doc=doc)
