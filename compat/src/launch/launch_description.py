"""The LaunchDescription: an ordered list of entities describing what to launch."""

from typing import Iterable
from typing import List
from typing import Optional
from typing import Text
from typing import Tuple

from ._compat import getter
from .launch_description_entity import LaunchDescriptionEntity


class LaunchDescription(LaunchDescriptionEntity):
    """A description of a system to launch: actions, substitutions' users and included files."""

    def __init__(self, initial_entities: Optional[Iterable[LaunchDescriptionEntity]] = None, *,
                 deprecated_reason: Optional[Text] = None) -> None:
        self._entities = list(initial_entities) if initial_entities is not None else []
        self._deprecated_reason = deprecated_reason

    entities = getter('_entities', 'Getter for the entities of the description.')

    @property
    def deprecated(self) -> bool:
        """Return True when the description was marked deprecated."""
        return self._deprecated_reason is not None

    deprecated_reason = getter('_deprecated_reason', 'Getter for the deprecation reason, or None.')

    def add_entity(self, entity: LaunchDescriptionEntity) -> None:
        """Append an entity."""
        self._entities.append(entity)

    def add_action(self, action: LaunchDescriptionEntity) -> None:
        """Append an action."""
        self.add_entity(action)

    def describe(self) -> Text:
        """Return a short description."""
        return 'LaunchDescription({} entities)'.format(len(self._entities))

    def describe_sub_entities(self) -> List[LaunchDescriptionEntity]:
        """Return the entities of the description."""
        return self._entities

    def visit(self, context) -> Optional[List[LaunchDescriptionEntity]]:
        """Return the entities to be visited in order."""
        if self._deprecated_reason is not None:
            service = context._launch_service
            message = 'launch description is deprecated: {}'.format(self._deprecated_reason)
            if service is not None:
                service._log('WARNING', 'launch', message)
        return self._entities

    def get_launch_arguments(self, conditional_inclusion: bool = False) -> List:
        """Return the DeclareLaunchArgument actions of the description, included files too."""
        return [arg for arg, _ in self.get_launch_arguments_with_include_launch_description_actions(
            conditional_inclusion)]

    def get_launch_arguments_with_include_launch_description_actions(
            self, conditional_inclusion: bool = False) -> List[Tuple[object, Optional[List]]]:
        """
        Return (DeclareLaunchArgument, IncludeLaunchDescription actions on the way) pairs.

        Arguments found below a condition are marked with ``_conditionally_included``.
        Arguments after a ResetLaunchConfigurations (in the same list of entities) are not
        reachable from the command line and are left out, as in the real launch.
        """
        found: List[Tuple[object, Optional[List]]] = []

        def process(entities, conditional: bool, nested: Optional[List]) -> None:
            for entity in entities:
                # The actions name their role here (launch.actions imports this module).
                role = getattr(entity, '_compat_argument_role', None)
                if role == 'declare':
                    if any(entity.name == other.name for other, _ in found):
                        continue
                    entity._conditionally_included = conditional or entity.condition is not None
                    found.append((entity, nested))
                if role == 'reset':
                    return
                next_nested = nested
                if role == 'include':
                    next_nested = list(nested or []) + [entity]
                process(entity.describe_sub_entities(), conditional, next_nested)
                for _, sub_entities in entity.describe_conditional_sub_entities():
                    process(sub_entities, True, next_nested)

        process(self._entities, conditional_inclusion, None)
        return found
