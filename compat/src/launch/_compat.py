"""Helpers shared by the stand-in packages: the error raised for features they do not implement."""

from typing import Callable


def unsupported(feature: str) -> NotImplementedError:
    """Return the error raised when a launch file uses a feature the stand-in lacks."""
    return NotImplementedError(
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
        raise unsupported('{}.{}'.format(module_name, name))
    return __getattr__
