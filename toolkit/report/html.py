"""The report page: one self-contained HTML file (``string.Template``, inline CSS, no JavaScript).

Figures are embedded as ``data:image/png;base64`` URIs, so the file opens anywhere on its own; the
same PNGs lie beside it. Every value the page shows is escaped.
"""

from __future__ import annotations

import base64
from html import escape
from string import Template

__all__ = ["PAGE", "page", "table", "figure", "pre"]

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>$title</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1150px; color: #222; }
h1 { font-size: 1.5em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.6em; }
h3 { font-size: 1.05em; margin-bottom: .3em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .85em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f6; padding: .6em; overflow-x: auto; font-size: .72em; }
figure { margin: .6em 0 1.2em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: .8em; color: #555; }
.note { color: #555; font-size: .85em; }
</style>
</head>
<body>
<h1>$title</h1>
<p class="note">$subtitle</p>
$body
</body>
</html>
""")


def _cell(value) -> str:
    if isinstance(value, float):
        return f'<td class="num">{value:.4f}</td>'
    return f"<td>{escape(str(value))}</td>"


def table(header: list[str], rows: list[list]) -> str:
    """An HTML table; floats with 4 decimals, everything escaped."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def figure(name: str, png: bytes, caption: str) -> str:
    """An embedded PNG (data URI) with its caption and the name of the file beside the report."""
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="{escape(name)}"><img src="{uri}" alt="{escape(caption)}">'
        f"<figcaption>{escape(caption)} ({escape(name)})</figcaption></figure>"
    )


def pre(text: str) -> str:
    """Preformatted text, as a terminal printed it."""
    return f"<pre>{escape(text)}</pre>"


def page(title: str, subtitle: str, body: str) -> str:
    """The whole document."""
    return PAGE.substitute(title=escape(title), subtitle=escape(subtitle), body=body)
