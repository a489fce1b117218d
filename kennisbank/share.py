"""Share images: the picture a link preview shows (``og:image``), drawn at build time.

Every article gets its own 1200×630 PNG in each language it is built in: its title,
its byline ("Door Koos Overbeeke") and the site's name, in the site's petrol and
copper (``docs/assets/stylesheets/site.css``). Every other page of a language shares
one site image: the language's site name and description. They are drawn with
Pillow in Lato (SIL Open Font License, shipped inside the ``font-lato`` package from
PyPI, so nothing is downloaded while building).

A title is wrapped at word boundaries to the width of the title box, in the largest
of :data:`TITLE_SIZES` at which it fits the box's height; a word wider than a whole
line is hyphenated (``pyphen``, in the page's language: Dutch compounds are long),
and broken by letters only if no hyphenation point fits. A title too long even at
the smallest size ends in an ellipsis: nothing ever runs outside the image.

Drawing takes some 30 ms an image, so images are cached by the SHA-256 of what they
show (:func:`Card.key`) in :func:`cache_dir`, like the brotli copies of
``kennisbank.assets``: a rebuild copies an unchanged article's image from the cache
and draws nothing. Nothing here imports MkDocs; ``hooks/share.py`` calls it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

import font_lato
import pyphen
from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 1200, 630
#: a change of the drawing below must change this, or the cache serves old images
LAYOUT_VERSION = "1"

# The site's palette (docs/assets/stylesheets/site.css)
PETROL = "#0b4f5c"
PETROL_DARK = "#06343d"
COPPER = "#a4461b"
COPPER_LIGHT = "#f0a36e"  # the accent of the dark scheme: readable on petrol
WHITE = "#ffffff"
MUTED = "#cfe3e7"

MARGIN = 80
#: the box the title must stay inside: (left, top, right, bottom)
TITLE_BOX = (MARGIN, 150, WIDTH - MARGIN, 500)
#: title sizes in pixels, largest first; the first at which the title fits is used
TITLE_SIZES = (72, 66, 60, 54, 48, 44, 40)
LINE_HEIGHT = 1.18
HYPHEN = "-"
ELLIPSIS = "…"

FONT_BOLD = Path(font_lato.font_directory) / "Lato-Black.ttf"
FONT_REGULAR = Path(font_lato.font_directory) / "Lato-Regular.ttf"
FONT_LICENCE = Path(font_lato.font_directory) / "OFL.txt"
CACHE_DAYS = 30


class ShareError(Exception):
    """A share image cannot be made; the message says what and the fix."""


@dataclass(frozen=True)
class Card:
    """What one share image shows. ``locale`` chooses the hyphenation."""

    title: str
    site_name: str
    locale: str
    byline: str = ""
    """``"Door Koos Overbeeke"`` on an article; empty on the site image."""
    subtitle: str = ""
    """The site's description on the site image; empty on an article."""

    def key(self) -> str:
        """The SHA-256 of everything the image depends on: its text, the layout and the font."""
        facts = {**asdict(self), "layout": LAYOUT_VERSION, "size": [WIDTH, HEIGHT], "font": _font_id()}
        return hashlib.sha256(json.dumps(facts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    @property
    def alt(self) -> str:
        """The image's text alternative (``og:image:alt``): what it says, in its order."""
        parts = [self.title, self.byline or self.subtitle, "" if self.title == self.site_name else self.site_name]
        return " – ".join(" ".join(part.split()) for part in parts if part)


@dataclass
class Stats:
    """What :func:`ensure` did during a build: images drawn and images copied from the cache."""

    drawn: int = 0
    cached: int = 0
    seconds: float = 0.0
    paths: list[str] = field(default_factory=list)


# Fonts and hyphenation


@cache
def _font_id() -> str:
    for font in (FONT_BOLD, FONT_REGULAR):
        if not font.is_file():
            raise ShareError(f"the font {font} is missing: reinstall the font-lato package (make setup)")
    return hashlib.sha256(FONT_BOLD.read_bytes() + FONT_REGULAR.read_bytes()).hexdigest()[:16]


@cache
def font(size: int, bold: bool = True) -> ImageFont.FreeTypeFont:
    _font_id()
    return ImageFont.truetype(str(FONT_BOLD if bold else FONT_REGULAR), size)


@cache
def _hyphenator(locale: str) -> pyphen.Pyphen | None:
    """pyphen's dictionary for ``locale`` (``nl``, ``en`` -> ``en_GB``), ``None`` if it has none."""
    for candidate in (locale, {"en": "en_GB", "nl": "nl_NL"}.get(locale, ""), locale.split("_")[0]):
        if candidate and candidate in pyphen.LANGUAGES:
            return pyphen.Pyphen(lang=candidate)
    return None


def text_width(text: str, face: ImageFont.FreeTypeFont) -> float:
    return face.getlength(text)


# Wrapping


def _split_long_word(word: str, face: ImageFont.FreeTypeFont, width: float, locale: str) -> list[str]:
    """``word`` (wider than ``width``) in pieces that each fit: at hyphenation points,
    each piece but the last ending in a hyphen; by letters where no point fits."""
    pieces = []
    dictionary = _hyphenator(locale)
    rest = word
    while text_width(rest, face) > width:
        cut = None
        if dictionary is not None:
            # pyphen gives the hyphenation points of the whole word; use those inside the rest
            for head, _tail in dictionary.iterate(rest):
                if not head.endswith(HYPHEN) and text_width(head + HYPHEN, face) <= width:
                    cut = (head + HYPHEN, rest[len(head) :])
                    break
        if cut is None:  # no hyphenation point fits: break by letters, as much as fits
            n = len(rest) - 1
            while n > 1 and text_width(rest[:n] + HYPHEN, face) > width:
                n -= 1
            cut = (rest[:n] + HYPHEN, rest[n:])
        pieces.append(cut[0])
        rest = cut[1]
    pieces.append(rest)
    return pieces


def wrap(text: str, face: ImageFont.FreeTypeFont, width: float, locale: str) -> list[str]:
    """``text`` in lines no wider than ``width`` in ``face``: greedy at spaces, a word
    too wide for a line of its own hyphenated (:func:`_split_long_word`)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if text_width(candidate, face) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        if text_width(word, face) <= width:
            line = word
        else:
            *whole, line = _split_long_word(word, face, width, locale)
            lines += whole
    if line:
        lines.append(line)
    return lines


def _ellipsize(line: str, face: ImageFont.FreeTypeFont, width: float) -> str:
    """``line`` cut at a word (or letter) so that it and an ellipsis fit ``width``."""
    line = line.rstrip(HYPHEN)
    while line and text_width(line + ELLIPSIS, face) > width:
        line = line.rsplit(" ", 1)[0] if " " in line else line[:-1]
    return line.rstrip(" ,;:–—-") + ELLIPSIS


@dataclass(frozen=True)
class TitleLayout:
    size: int
    lines: tuple[str, ...]
    line_height: int
    truncated: bool


def fit_title(title: str, locale: str, box: tuple[int, int, int, int] = TITLE_BOX, reserve: int = 0) -> TitleLayout:
    """The title in the largest size whose lines fit ``box`` (less ``reserve`` pixels
    at the bottom); at the smallest size, as many lines as fit, the last ellipsized."""
    left, top, right, bottom = box
    width, height = right - left, bottom - top - reserve
    for size in TITLE_SIZES:
        face = font(size)
        step = round(size * LINE_HEIGHT)
        lines = wrap(title, face, width, locale)
        if len(lines) * step <= height:
            return TitleLayout(size, tuple(lines), step, False)
    size = TITLE_SIZES[-1]
    face = font(size)
    step = round(size * LINE_HEIGHT)
    keep = max(1, height // step)
    lines = wrap(title, face, width, locale)[:keep]
    lines[-1] = _ellipsize(lines[-1], face, width)
    return TitleLayout(size, tuple(lines), step, True)


# Drawing


def render(card: Card) -> Image.Image:
    """The share image of ``card``: 1200×630, RGB."""
    image = Image.new("RGB", (WIDTH, HEIGHT), PETROL)
    draw = ImageDraw.Draw(image)
    # the copper rule at the foot and a darker band behind the byline, as on the site's header and footer
    draw.rectangle((0, HEIGHT - 110, WIDTH, HEIGHT), fill=PETROL_DARK)
    draw.rectangle((0, HEIGHT - 14, WIDTH, HEIGHT), fill=COPPER)

    # the site's name above the title, after a copper mark
    eyebrow = font(30)
    draw.rectangle((MARGIN, 74, MARGIN + 44, 80), fill=COPPER_LIGHT)
    draw.text((MARGIN + 62, 77), _fit_line(card.site_name, eyebrow, WIDTH - 2 * MARGIN - 62), font=eyebrow, fill=COPPER_LIGHT, anchor="lm")

    left, top, right, _bottom = TITLE_BOX
    subtitle_face = font(34, bold=False)
    subtitle_lines = wrap(card.subtitle, subtitle_face, right - left, card.locale)[:3] if card.subtitle else []
    reserve = len(subtitle_lines) * 46 + (24 if subtitle_lines else 0)
    layout = fit_title(card.title, card.locale, reserve=reserve)
    face = font(layout.size)
    y = top
    for line in layout.lines:
        draw.text((left, y), line, font=face, fill=WHITE)
        y += layout.line_height
    y += 24 - (layout.line_height - layout.size)
    for line in subtitle_lines:
        draw.text((left, y), line, font=subtitle_face, fill=MUTED)
        y += 46

    if card.byline:
        byline = font(34, bold=False)
        draw.text((MARGIN, HEIGHT - 62), _fit_line(card.byline, byline, WIDTH - 2 * MARGIN), font=byline, fill=MUTED, anchor="lm")
    return image


def _fit_line(text: str, face: ImageFont.FreeTypeFont, width: float) -> str:
    text = " ".join(text.split())
    return text if text_width(text, face) <= width else _ellipsize(text, face, width)


def png(card: Card) -> bytes:
    """:func:`render` as PNG bytes (zlib at its default level: optimize=True costs 4 times the time for 10 % fewer bytes)."""
    from io import BytesIO

    out = BytesIO()
    render(card).save(out, format="PNG")
    return out.getvalue()


# The cache


def cache_dir() -> Path:
    """Where drawn images are kept between builds: ``$XDG_CACHE_HOME/kennisbank/share``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base, "kennisbank", "share")


def ensure(card: Card, target: Path, cache: Path | None, stats: Stats | None = None) -> bool:
    """Write ``card``'s image to ``target``: copied from ``cache`` when it holds it,
    else drawn (and kept there). Returns whether it was drawn."""
    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    entry = cache / f"{card.key()}.png" if cache is not None else None
    drawn = False
    if entry is not None and entry.is_file():
        _place(entry, target)
        os.utime(entry)  # in use: kept for another CACHE_DAYS
    else:
        data = png(card)
        # a rebuild into a folder that is not emptied first (mkdocs serve --dirty, make
        # dev) finds the last build's image there, a hard link to another card's cached
        # image: writing into it would change that cached image
        target.unlink(missing_ok=True)
        target.write_bytes(data)
        drawn = True
        if entry is not None:
            try:
                cache.mkdir(parents=True, exist_ok=True)
                with tempfile.NamedTemporaryFile(dir=cache, prefix=".tmp-", delete=False) as tmp:
                    tmp.write(data)
                os.replace(tmp.name, entry)  # whole or not at all, also with two builds at once
            except OSError:
                pass  # no cache, no harm: the next build draws again
    if stats is not None:
        stats.drawn += drawn
        stats.cached += not drawn
        stats.seconds += time.perf_counter() - started
        stats.paths.append(str(target))
    return drawn


def _place(entry: Path, target: Path) -> None:
    """``target`` as a hard link to the cached ``entry``; a copy where a link cannot be
    made (another file system, a file system without links). A warm build places some
    2,000 images at 1,000 articles: a link is one system call, a copy opens two files
    and moves the bytes. Nothing writes into a built image (a rebuild removes the site
    folder first; one that does not, :func:`ensure` unlinks before it draws), so the
    cache cannot be changed through the link."""
    target.unlink(missing_ok=True)
    try:
        os.link(entry, target)
    except OSError:
        shutil.copyfile(entry, target)


def prune(cache: Path) -> None:
    """Remove cached images unused for :data:`CACHE_DAYS`."""
    cutoff = time.time() - CACHE_DAYS * 86400
    for entry in cache.glob("*.png"):
        try:
            if entry.stat().st_mtime < cutoff:
                entry.unlink()
        except OSError:
            pass
