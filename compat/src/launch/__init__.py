"""
Stand-in for the ROS 2 ``launch`` package (subset), for machines without a ROS 2 distribution.

Launch files written for the real ``ros2 launch`` run unchanged with the supported subset
(see compat/README.md); names of the real API that the stand-in lacks raise
NotImplementedError with a message naming them. On a ROS 2 installation the real package
comes first on sys.path and this one is not used.
"""

from . import actions  # noqa: F401
from . import conditions  # noqa: F401
from . import event_handlers  # noqa: F401
from . import events  # noqa: F401
from . import launch_description_sources  # noqa: F401
from . import substitutions  # noqa: F401
from ._compat import make_module_getattr
from .action import Action
from .condition import Condition
from .event import Event
from .event_handler import EventHandler
from .launch_context import LaunchContext
from .launch_description import LaunchDescription
from .launch_description_entity import LaunchDescriptionEntity
from .launch_description_source import LaunchDescriptionSource
from .launch_service import LaunchService
from .some_substitutions_type import SomeSubstitutionsType
from .some_substitutions_type import SomeSubstitutionsType_types_tuple
from .substitution import Substitution

__all__ = [
    'Action', 'Condition', 'Event', 'EventHandler', 'LaunchContext', 'LaunchDescription',
    'LaunchDescriptionEntity', 'LaunchDescriptionSource', 'LaunchService',
    'SomeSubstitutionsType', 'SomeSubstitutionsType_types_tuple', 'Substitution', 'actions',
    'conditions', 'event_handlers', 'events', 'launch_description_sources', 'substitutions',
]

REPOSE_COMPAT = True

__getattr__ = make_module_getattr(__name__)
