"""A Griffe extension for the API pages (``mkdocs.yml``: mkdocstrings' ``extensions``).

Harvest's docstrings name other objects with Sphinx roles (``:func:`run_crawl```,
``:class:`harvest.fields.FieldKind```), which mkdocstrings would print as written. They become
inline code here: the object's name, without the role (and without a leading ``~``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

SPHINX_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|data|attr|exc|obj|const):`~?([^`]+)`")


class SphinxRolesAsCode(griffe.Extension):
    """Rewrite ``:role:`name``` in every docstring as ```name```."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = SPHINX_ROLE.sub(r"`\1`", obj.docstring.value)
