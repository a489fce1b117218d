"""The site's own scripts and stylesheets, minified when the site is built.

The sources under ``docs/assets/`` stay readable; the built copies lose comments
and white space (rjsmin, rcssmin). Material's own files are minified already.
"""

from __future__ import annotations

import rcssmin
import rjsmin

MINIFIERS = {".js": rjsmin.jsmin, ".css": rcssmin.cssmin}


def is_own_asset(src_uri: str) -> bool:
    """A script or stylesheet of the site's own under ``assets/``, not already minified."""
    return src_uri.startswith("assets/") and src_uri.endswith(tuple(MINIFIERS)) and ".min." not in src_uri


def minify(text: str, suffix: str) -> str:
    """``text`` of a ``.js`` or ``.css`` file without comments and needless white space."""
    return MINIFIERS[suffix](text)
