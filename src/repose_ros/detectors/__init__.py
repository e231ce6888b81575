"""detectors subpackage."""
