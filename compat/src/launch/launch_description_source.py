"""Base class of launch description sources (where an included description comes from)."""

from typing import Dict
from typing import Optional
from typing import Text

from .launch_description import LaunchDescription
from .utilities import normalize_to_list_of_substitutions
from .utilities import perform_substitutions


class LaunchDescriptionSource:
    """A launch description, given directly or loaded from a location when first needed."""

    def __init__(self, launch_description: Optional[LaunchDescription] = None,
                 location='<string>', method: Text = 'unspecified mechanism') -> None:
        self._launch_description = launch_description
        self.__location_subs = normalize_to_list_of_substitutions(location)
        self.__location: Optional[Text] = None
        self.__method = method
        self.__loaded: Dict[Text, LaunchDescription] = {}

    @property
    def location(self) -> Text:
        """Getter for the location, after it has been evaluated."""
        if self.__location is None:
            raise RuntimeError('location of the launch description source not yet expanded')
        return self.__location

    @property
    def method(self) -> Text:
        """Getter for the method: how the description is obtained."""
        return self.__method

    def _description_at(self, location: Text) -> LaunchDescription:
        if self._launch_description is not None:
            return self._launch_description
        if location not in self.__loaded:
            self.__loaded[location] = self._load(location)
        return self.__loaded[location]

    def try_get_launch_description_without_context(self) -> Optional[LaunchDescription]:
        """Return the description if it can be had without a launch context, else None."""
        if self._launch_description is not None:
            return self._launch_description
        from .launch_context import LaunchContext
        try:
            return self._description_at(perform_substitutions(LaunchContext(),
                                                              self.__location_subs))
        except Exception:
            return None

    def get_launch_description(self, context) -> LaunchDescription:
        """Evaluate the location in ``context`` and return the description found there."""
        self.__location = perform_substitutions(context, self.__location_subs)
        return self._description_at(self.__location)

    def _load(self, location: Text) -> LaunchDescription:
        raise RuntimeError('launch description source has neither a description nor a loader')
