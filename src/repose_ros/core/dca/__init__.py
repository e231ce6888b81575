"""dca subpackage."""
