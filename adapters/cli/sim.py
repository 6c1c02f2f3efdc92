"""``foliogate sim``: the PMS simulator; the verb lives in ``simulators.cli``."""

from simulators.cli import register, run  # noqa: F401
