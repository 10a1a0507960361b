"""What the warehouse raises; every message says what to change."""

from __future__ import annotations

from harvest.errors import HarvestError


class WarehouseError(HarvestError, RuntimeError):
    """Something the warehouse cannot do; the message says what to change."""


class WarehouseUnavailable(WarehouseError):
    """The warehouse database cannot be reached."""


class FrameError(WarehouseError, ValueError):
    """A frame handed to the warehouse lacks a column or holds values it cannot store."""

    retryable = False
