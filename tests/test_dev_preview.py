"""The writer's preview (``make dev``): one language, ``mkdocs serve --dirty``, and a
save shows up on the article and, when a list shows what changed, in the lists."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

from support import ARTICLE, build

SAVE_TIMEOUT = 120  # generous: bench/build.py measures the seconds


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode("utf-8")
    except OSError:
        return None


def _wait_for(url: str, text: str, process: subprocess.Popen) -> str:
    deadline = time.monotonic() + SAVE_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, "mkdocs serve exited"
        page = _get(url) or ""
        if text in page:
            return page
        time.sleep(0.1)
    raise AssertionError(f"{text!r} did not appear on {url} within {SAVE_TIMEOUT} s")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_preview_builds_one_language_and_passes_the_strict_checks(project, tmp_path):
    result = build(project, tmp_path / "site", env={"KENNISBANK_LANGUAGE": "nl"})
    assert result.returncode == 0, result.output
    assert (tmp_path / "site" / ARTICLE / "index.html").is_file()
    assert not (tmp_path / "site" / "en").exists()


def test_a_save_shows_on_the_page_and_in_the_lists_only_when_they_change(project, tmp_path):
    """make dev's command (Makefile): the article page follows every save; the list pages
    are rebuilt when a title changes, and left alone when only the text does."""
    port = _free_port()
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("KENNISBANK_")}
    env.update(NO_MKDOCS_2_WARNING="1", KENNISBANK_DRAFTS="1", KENNISBANK_LANGUAGE="nl", TMPDIR=str(temp))
    process = subprocess.Popen(
        [sys.executable, "-m", "mkdocs", "serve", "--dirty", "--dev-addr", f"127.0.0.1:{port}", "-f", str(project / "mkdocs.yml")],
        env=env,
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        _wait_for(base, "<html", process)
        (served,) = temp.glob("mkdocs_*")  # where mkdocs serve builds
        category = served / "artikelen" / "categorie" / "outsourcing" / "index.html"  # a generated list page
        article = project / "docs" / f"{ARTICLE}.nl.md"
        source = article.read_text(encoding="utf-8")
        assert "\ntitle: " in source

        built = category.stat().st_mtime_ns
        article.write_text(source + "\n\nEen zin die alleen het artikel toont.\n", encoding="utf-8")
        _wait_for(base + ARTICLE + "/", "Een zin die alleen het artikel toont.", process)
        assert category.stat().st_mtime_ns == built  # the list shows nothing new: not rebuilt

        time.sleep(1.1)  # a later file time than the last build's
        retitled = source.replace("\ntitle: ", "\ntitle: Herzien en ", 1)
        article.write_text(retitled, encoding="utf-8")
        _wait_for(base + ARTICLE + "/", "Herzien en ", process)
        assert "Herzien en " in _wait_for(base + "artikelen/", "Herzien en ", process)  # its source unchanged
        assert "Herzien en " in _wait_for(base + "artikelen/categorie/outsourcing/", "Herzien en ", process)
        assert category.stat().st_mtime_ns > built
        assert not (served / "en").exists()
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_redrawn_share_image_leaves_the_cached_image_it_replaces_alone(tmp_path):
    """A rebuild into a folder that is not emptied (the preview) found the last build's
    share.png, a hard link into the cache, and drew the new title into it: the cached
    image of the old title showed the new one, in every later build on the machine."""
    from kennisbank import share

    cache, target = tmp_path / "cache", tmp_path / "site" / "share.png"
    before = share.Card(title="Oude titel", site_name="Kennisbank", locale="nl")
    after = share.Card(title="Nieuwe titel", site_name="Kennisbank", locale="nl")
    assert share.ensure(before, target, cache) is True
    assert share.ensure(before, target, cache) is False  # from the cache: a hard link where it can
    assert share.ensure(after, target, cache) is True
    assert (cache / f"{before.key()}.png").read_bytes() == share.png(before)
    assert target.read_bytes() == share.png(after)
