"""Share images (kennisbank.share, hooks/share.py): one per article and language,
1200×630, showing the article's own title; long titles stay inside the image; an
unchanged rebuild draws nothing."""

from __future__ import annotations

import re

from PIL import Image, ImageChops

from kennisbank import share
from kennisbank.articles import is_article_file
from kennisbank.siteconfig import load_mkdocs

from support import ARTICLE, ROOT, build

SITE = load_mkdocs(ROOT / "mkdocs.yml")
ARTICLES = sorted(path for path in (ROOT / "docs").rglob("*.md") if is_article_file(str(path.relative_to(ROOT / "docs")), SITE.locales))


def _front_matter(path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8").split("---")[1])


def _card(meta: dict, locale: str) -> share.Card:
    return share.Card(
        title=meta["title"],
        site_name=SITE.language(locale).site_name,
        locale=locale,
        byline=SITE.string("byline", locale, author=meta["author"]),
    )


def test_every_article_has_its_own_image_in_every_language(site):
    assert ARTICLES, "no articles found under docs/artikelen"
    for source in ARTICLES:
        slug = source.name.split(".")[0]
        locale = source.name.split(".")[1] if source.name.count(".") == 2 else SITE.default_language.locale
        prefix = SITE.language(locale).prefix
        image_path = site.site / prefix / "artikelen" / slug / "share.png"
        assert image_path.is_file(), f"{image_path} missing for {source}"
        with Image.open(image_path) as image:
            assert image.size == (1200, 630), image_path
            drawn = image.convert("RGB")
        meta = _front_matter(source)
        # the image is the rendering of this article's own title, and not of another title
        assert ImageChops.difference(drawn, share.render(_card(meta, locale))).getbbox() is None, image_path
        other = share.render(_card({**meta, "title": "Een heel andere titel"}, locale))
        band = (share.TITLE_BOX[0], share.TITLE_BOX[1], share.TITLE_BOX[2], share.TITLE_BOX[3])
        assert ImageChops.difference(drawn.crop(band), other.crop(band)).getbbox() is not None, image_path
        # and the page says so, absolutely, with its size and text
        soup = site.html(f"{prefix}artikelen/{slug}/")
        og = {tag["property"]: tag["content"] for tag in soup.select("meta[property^='og:image']")}
        assert og["og:image"] == f"{SITE.site_url}{prefix}artikelen/{slug}/share.png"
        assert (og["og:image:width"], og["og:image:height"]) == ("1200", "630")
        assert meta["title"] in og["og:image:alt"]
        assert soup.select_one("meta[name='twitter:card']")["content"] == "summary_large_image"


def test_other_pages_share_their_languages_site_image(site):
    for lang in SITE.languages:
        path = site.site / lang.prefix / "share.png"
        with Image.open(path) as image:
            assert image.size == (1200, 630)
        for page in ("", "over/", "privacy/"):
            soup = site.html(lang.prefix + page)
            assert soup.select_one("meta[property='og:image']")["content"] == f"{SITE.site_url}{lang.prefix}share.png", page


def _background_only(image: Image.Image, box: tuple[int, int, int, int]) -> bool:
    """Whether ``box`` of ``image`` holds only the background colour."""
    colours = image.crop(box).getcolors(maxcolors=1_000_000)
    return [colour for _count, colour in colours] == [Image.new("RGB", (1, 1), share.PETROL).getpixel((0, 0))]


def test_a_200_character_title_wraps_inside_the_image():
    title = ("Resultaatgerichte contractafspraken met bonus-malusregelingen voor shared service centers " * 3)[:200]
    assert len(title) == 200
    layout = share.fit_title(title, "nl")
    face = share.font(layout.size)
    left, top, right, bottom = share.TITLE_BOX
    assert len(layout.lines) > 1
    assert all(face.getlength(line) <= right - left for line in layout.lines), layout
    assert len(layout.lines) * layout.line_height <= bottom - top
    image = share.render(share.Card(title, "Kennisbank outsourcing & SSC", "nl", byline="Door Koos Overbeeke"))
    # nothing of the title in the side margins of the title band
    assert _background_only(image, (0, top, left - 2, bottom))
    assert _background_only(image, (right + 2, top, share.WIDTH, bottom))


def test_a_word_too_long_for_a_line_is_hyphenated_in_dutch():
    word = "arbeidsongeschiktheidsverzekeringsmaatschappijen"
    face = share.font(share.TITLE_SIZES[0])
    width = share.TITLE_BOX[2] - share.TITLE_BOX[0]
    assert face.getlength(word) > width
    lines = share.wrap(f"De {word} en het SSC", face, width, "nl")
    assert all(face.getlength(line) <= width for line in lines), lines
    broken = [line for line in lines if line.endswith("-")]
    assert broken, lines
    assert "".join(line[:-1] if line.endswith("-") else line + " " for line in lines).split() == ["De", word, "en", "het", "SSC"]
    # at a Dutch hyphenation point (pyphen), not just where the line is full
    head = broken[0].split()[-1][:-1]
    assert word.startswith(head) and len(head) in share._hyphenator("nl").positions(word), head


def test_an_endless_title_ends_in_an_ellipsis_inside_the_box():
    layout = share.fit_title("Outsourcing " * 200, "en")
    assert layout.truncated and layout.lines[-1].endswith("…")
    assert len(layout.lines) * layout.line_height <= share.TITLE_BOX[3] - share.TITLE_BOX[1]


def test_a_rebuild_without_changes_draws_nothing(project, tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    first = build(project, tmp_path / "one", env=env)
    assert first.returncode == 0, first.output
    drawn = re.search(r"share images: (\d+) drawn, (\d+) from the cache", first.output)
    assert drawn and int(drawn[1]) >= 4 and drawn[2] == "0", first.output
    cache = tmp_path / "cache" / "kennisbank" / "share"
    before = {path.name: path.stat().st_mtime_ns for path in cache.glob("*.png")}
    second = build(project, tmp_path / "two", env=env)
    assert second.returncode == 0, second.output
    again = re.search(r"share images: (\d+) drawn, (\d+) from the cache", second.output)
    assert again and again[1] == "0" and again[2] == drawn[1], second.output
    assert {path.name for path in cache.glob("*.png")} == set(before)
    assert (tmp_path / "two" / "share.png").read_bytes() == (tmp_path / "one" / "share.png").read_bytes()
    # a changed title draws that article again, in its language only
    article = next((project / "docs" / "artikelen").glob("*.en.md"))
    article.write_text(article.read_text(encoding="utf-8").replace("title: ", "title: Revised ", 1), encoding="utf-8")
    third = build(project, tmp_path / "three", env=env)
    changed = re.search(r"share images: (\d+) drawn", third.output)
    assert third.returncode == 0 and changed and changed[1] == "1", third.output


def test_the_server_serves_the_share_images(make_client):
    client = make_client()
    for path in (f"/{ARTICLE}/share.png", f"/en/{ARTICLE}/share.png", "/share.png", "/en/share.png"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == "image/png", path
        assert response.content.startswith(b"\x89PNG"), path


def test_a_cached_image_is_linked_not_copied_and_a_link_survives_a_second_placing(tmp_path):
    card = share.Card(title="Gekoppeld", site_name="Kennisbank", locale="nl")
    cache, target = tmp_path / "cache", tmp_path / "site" / "share.png"
    assert share.ensure(card, tmp_path / "first.png", cache) is True
    for _ in range(2):  # the second time the target is there already (a build without clean)
        assert share.ensure(card, target, cache) is False
    (entry,) = cache.glob("*.png")
    assert target.stat().st_ino == entry.stat().st_ino, "the cached image was copied, not linked"
    assert target.read_bytes() == (tmp_path / "first.png").read_bytes()
