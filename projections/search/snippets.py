"""Snippets both backends return: HTML-escaped text with the matched words in `<mark>`.

The engines mark matches with control characters that cannot appear in a query's words;
the text is escaped here and only then are the markers turned into tags, so a payload
holding `<script>` comes back as `&lt;script&gt;`, never as markup.
"""

from __future__ import annotations

import html
import re

START = "\x02"
STOP = "\x03"
_SPACES = re.compile(r"\s+")


def render(marked: str) -> str:
    """`marked` (matches between START and STOP) as escaped text with `<mark>` tags."""
    text = html.escape(_SPACES.sub(" ", marked).strip(), quote=False)
    return text.replace(START, "<mark>").replace(STOP, "</mark>")
