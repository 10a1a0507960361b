"""What every spec section shares: the model base, the error that names file and field, names."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from harvest.errors import HarvestError

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# Celery queue names end up in Redis keys and `celery worker --queues a,b`: no commas, no spaces.
QUEUE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")
TEMPLATE_KEYS = {"base_url", "date", "start", "end"}


class SpecError(HarvestError, ValueError):
    """A source spec that cannot be used; names the file and the field at fault."""

    retryable = False

    def __init__(self, path: Path | str, field: str, message: str) -> None:
        self.path = Path(path)
        self.field = field
        self.message = message
        where = f"{self.path}: {field}" if field else str(self.path)
        super().__init__(f"{where}: {message}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
