"""Base class of launch description sources (where an included description comes from)."""

from typing import Dict
from typing import Optional
from typing import Text

from ._compat import getter
from .launch_context import LaunchContext
from .launch_description import LaunchDescription
from .utilities import normalize_to_list_of_substitutions
from .utilities import perform_substitutions


class LaunchDescriptionSource:
    """A launch description, given directly or loaded from a location when first needed."""

    def __init__(self, launch_description: Optional[LaunchDescription] = None,
                 location='<string>', method: Text = 'unspecified mechanism') -> None:
        self._launch_description = launch_description
        self._location_subs = normalize_to_list_of_substitutions(location)
        self._location: Optional[Text] = None
        self._method = method
        self._loaded: Dict[Text, LaunchDescription] = {}

    @property
    def location(self) -> Text:
        """Getter for the location, after it has been evaluated."""
        if self._location is None:
            raise RuntimeError('location of the launch description source not yet expanded')
        return self._location

    method = getter('_method', 'Getter for the method: how the description is obtained.')

    def _description_at(self, location: Text) -> LaunchDescription:
        if self._launch_description is not None:
            return self._launch_description
        if location not in self._loaded:
            self._loaded[location] = self._load(location)
        return self._loaded[location]

    def try_get_launch_description_without_context(self) -> Optional[LaunchDescription]:
        """Return the description if it can be had without a launch context, else None."""
        if self._launch_description is not None:
            return self._launch_description
        try:
            return self._description_at(perform_substitutions(LaunchContext(),
                                                              self._location_subs))
        except Exception:
            return None

    def get_launch_description(self, context) -> LaunchDescription:
        """Evaluate the location in ``context`` and return the description found there."""
        self._location = perform_substitutions(context, self._location_subs)
        return self._description_at(self._location)

    def _load(self, location: Text) -> LaunchDescription:
        raise RuntimeError('launch description source has neither a description nor a loader')
