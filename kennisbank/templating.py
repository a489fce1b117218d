"""The one Jinja environment for the package's own templates (``templates/``).

Autoescaping is on for every template, so every value from a data file or a reader
is escaped; undefined names fail loudly instead of rendering empty.
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

templates = Environment(
    loader=PackageLoader("kennisbank", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
