"""Minimal launch.logging: loggers printing '[LEVEL] [name]: message' like the real launch."""

import logging as _logging
import sys

from ._compat import make_module_getattr

__all__ = ['get_logger']

__getattr__ = make_module_getattr(__name__)

_LEVEL_NAMES = {_logging.DEBUG: 'DEBUG', _logging.INFO: 'INFO', _logging.WARNING: 'WARNING',
                _logging.ERROR: 'ERROR', _logging.CRITICAL: 'CRITICAL'}


class _LaunchFormatter(_logging.Formatter):
    def format(self, record: _logging.LogRecord) -> str:
        level = _LEVEL_NAMES.get(record.levelno, record.levelname)
        return '[{}] [{}]: {}'.format(level, record.name, record.getMessage())


def get_logger(name: str = 'launch') -> _logging.Logger:
    """Return a logger that prints to stdout in the launch format."""
    logger = _logging.getLogger(name)
    if not any(getattr(h, '_repose_launch_handler', False) for h in logger.handlers):
        handler = _logging.StreamHandler(sys.stdout)
        handler.setFormatter(_LaunchFormatter())
        handler._repose_launch_handler = True
        logger.addHandler(handler)
        logger.propagate = False
        if logger.level == _logging.NOTSET:
            logger.setLevel(_logging.INFO)
    return logger
