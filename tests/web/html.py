"""Reading the app's HTML in tests with the standard library's parser: the text of a table's
cells, and the attributes of elements, as a browser would see them (entities decoded)."""

from __future__ import annotations

from html.parser import HTMLParser


class _Tables(HTMLParser):
    def __init__(self, wanted: str) -> None:
        super().__init__(convert_charrefs=True)
        self.wanted = wanted
        self.depth = 0  # inside the wanted table, counting nested tables
        self.rows: list[list[str]] = []
        self.header: list[str] = []
        self.cell: list[str] | None = None
        self.in_head = False
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table":
            if self.depth:
                self.depth += 1
            elif not self.done and self.wanted in (found.get("id"),
                                                   *(found.get("class") or "").split()):
                self.depth = 1
        elif self.depth == 1:
            if tag == "thead":
                self.in_head = True
            elif tag == "tr" and not self.in_head:
                self.rows.append([])
            elif tag in ("td", "th"):
                self.cell = []
            elif tag == "br" and self.cell is not None:
                self.cell.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1
            self.done = not self.depth
        elif self.depth == 1:
            if tag == "thead":
                self.in_head = False
            elif tag in ("td", "th") and self.cell is not None:
                text = " ".join("".join(self.cell).split())
                (self.header if self.in_head else self.rows[-1]).append(text)
                self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table(html: str, wanted: str) -> tuple[list[str], list[list[str]]]:
    """Header and body rows (cell texts) of the first table with this id or class."""
    parser = _Tables(wanted)
    parser.feed(html)
    return parser.header, parser.rows


class _Attributes(HTMLParser):
    def __init__(self, attribute: str) -> None:
        super().__init__(convert_charrefs=True)
        self.attribute = attribute
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if self.attribute in found:
            self.found.append((tag, found))


def elements_with(html: str, attribute: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Attributes(attribute)
    parser.feed(html)
    return parser.found
