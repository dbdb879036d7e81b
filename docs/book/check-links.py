#!/usr/bin/env python3
"""Check the links of the built book: every relative link (href or src) of every HTML
page must name a file of the build, and every #anchor an id on the page it names.
Links to other sites are not fetched.

    mdbook build docs/book && python3 docs/book/check-links.py docs/book/book [README.md ...]

Markdown files given after the book (README.md) must only link to files that exist in
the repository. Exit status 0 when every link resolves, 1 with one line per broken link otherwise.
"""

import html.parser
import os
import re
import sys
import urllib.parse

MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links = []  # (line, url)
        self.ids = set()
        self.base = None  # <base href>: 404.html resolves its links from the site root

    def handle_starttag(self, tag, attrs):
        if tag == "base":
            self.base = dict(attrs).get("href")
            return
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name"):
                self.ids.add(value)
            elif name in ("href", "src"):
                self.links.append((self.getpos()[0], value))


def parse(path):
    page = Page()
    with open(path, encoding="utf-8") as f:
        page.feed(f.read())
    return page


def check_markdown(path, broken):
    """Relative links of a Markdown file outside the book: the file must exist."""
    checked = 0
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            for url in MARKDOWN_LINK.findall(line):
                parts = urllib.parse.urlsplit(url)
                if parts.scheme or parts.netloc or not parts.path:
                    continue
                checked += 1
                target = os.path.join(os.path.dirname(path), urllib.parse.unquote(parts.path))
                if not os.path.exists(target):
                    broken.append(f"{path}:{number}: {url}: no such file")
    return checked


def main(argv):
    if len(argv) < 2 or not os.path.isdir(argv[1]):
        print("usage: check-links.py BUILT_BOOK_DIR [MARKDOWN_FILE...] "
              "(run `mdbook build docs/book` first)", file=sys.stderr)
        return 2
    root = os.path.realpath(argv[1])
    pages = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".html"):
                path = os.path.join(folder, name)
                pages[path] = parse(path)
    broken = []
    checked = 0
    for path, page in sorted(pages.items()):
        for line, url in page.links:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme or parts.netloc or url.startswith("//"):
                continue  # another site, or javascript:/mailto:
            checked += 1
            target = path
            if parts.path:
                base = os.path.dirname(path)
                if page.base == "/":
                    base = root
                elif page.base is not None:
                    broken.append(f"{os.path.relpath(path, root)}: <base href={page.base!r}> "
                                  "is not understood by this check")
                    continue
                target = os.path.normpath(
                    os.path.join(base, urllib.parse.unquote(parts.path)))
                if os.path.isdir(target):
                    target = os.path.join(target, "index.html")
            where = f"{os.path.relpath(path, root)}:{line}"
            if not target.startswith(root + os.sep):
                broken.append(f"{where}: {url}: leaves the book")
                continue
            if not os.path.exists(target):
                broken.append(f"{where}: {url}: no such file in the book")
                continue
            fragment = urllib.parse.unquote(parts.fragment)
            if fragment and target.endswith(".html"):
                if fragment not in pages[target].ids:
                    broken.append(
                        f"{where}: {url}: no #{fragment} in {os.path.relpath(target, root)}")
    for extra in argv[2:]:
        checked += check_markdown(extra, broken)
    for line in broken:
        print(f"broken link: {line}")
    print(f"{checked} internal links in {len(pages)} pages and {len(argv) - 2} more files, "
          f"{len(broken)} broken",
          file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
