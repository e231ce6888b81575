"""Type alias for values that may be text, a substitution or a sequence of both."""

from typing import Iterable
from typing import Text
from typing import Union

from .substitution import Substitution

SomeSubstitutionsType = Union[Text, Substitution, Iterable[Union[Text, Substitution]]]

SomeSubstitutionsType_types_tuple = (str, Substitution)
