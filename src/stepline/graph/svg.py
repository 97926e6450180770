"""The SVG of a layout: what `stepline graph` writes and what the console shows.

    render_svg(layout)                      # a standalone drawing with its own light stylesheet
    render_svg(layout, standalone=False)    # classes only: the console's stylesheet colours it (themes, status)

Every state is a `<g class="sl-node ..." data-id=... data-name=...>`, every edge a `<g class="sl-edge ...">`
with `data-source` and `data-target`, so the console can colour and select them without a second drawing.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from stepline.graph import labels
from stepline.graph.layout import LINE_H, Edge, Group, Layout, Node

STYLESHEET = """
.sl-graph { font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; }
.sl-node rect { fill: #ffffff; stroke: #5f6b7a; stroke-width: 1.2; }
.sl-node .sl-name { font-size: 13px; font-weight: bold; fill: #16191f; }
.sl-node .sl-detail { font-size: 11px; fill: #5f6b7a; }
.sl-compound > rect { fill: #f4f6f8; stroke: #8d99a8; stroke-dasharray: 0; }
.sl-node--choice rect { fill: #fff8e6; }
.sl-node--fail rect { stroke: #c0392b; }
.sl-node--succeed rect { stroke: #1e8e3e; }
.sl-end-cap { fill: none; stroke: #5f6b7a; stroke-width: 3; stroke-linecap: round; }
.sl-node--fail .sl-end-cap { stroke: #c0392b; }
.sl-node--succeed .sl-end-cap { stroke: #1e8e3e; }
.sl-marker rect { fill: #2b3440; stroke: #2b3440; }
.sl-marker text { font-size: 12px; font-weight: bold; fill: #ffffff; }
.sl-group rect { fill: #ffffff; stroke: #b6c0cc; stroke-dasharray: 4 3; }
.sl-group text { font-size: 11px; fill: #5f6b7a; }
.sl-edge path { fill: none; stroke: #5f6b7a; stroke-width: 1.3; }
.sl-edge--catch path { stroke: #c0392b; stroke-dasharray: 5 4; }
.sl-edge--default path { stroke-dasharray: 2 3; }
.sl-label rect { fill: #ffffff; stroke: none; opacity: 0.92; }
.sl-label text { font-size: 11px; fill: #39424e; }
.sl-edge--catch .sl-label text { fill: #c0392b; }
.sl-retry circle { fill: #e8eef7; stroke: #3b6cb4; }
.sl-retry text { font-size: 11px; font-weight: bold; fill: #3b6cb4; }
.sl-arrowhead { fill: #5f6b7a; }
.sl-arrowhead--catch { fill: #c0392b; }
"""


def render_svg(layout: Layout, *, standalone: bool = True, title: str | None = None) -> str:
    """The drawing as SVG text. `standalone` embeds a stylesheet and a size; otherwise it scales to its box."""
    width, height = layout.width, layout.height
    size = f' width="{_n(width)}" height="{_n(height)}"' if standalone else ""
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="sl-graph" viewBox="0 0 {_n(width)} {_n(height)}"'
             f'{size} role="group" aria-label={quoteattr(title or "State machine graph")}>']
    if title:
        parts.append(f"<title>{escape(title)}</title>")
    parts.append('<defs>'
                 '<marker id="sl-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
                 'orient="auto"><path class="sl-arrowhead" d="M0,0 L10,5 L0,10 z"/></marker>'
                 '<marker id="sl-arrow-catch" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
                 'markerHeight="7" orient="auto"><path class="sl-arrowhead sl-arrowhead--catch" '
                 'd="M0,0 L10,5 L0,10 z"/></marker></defs>')
    if standalone:
        parts.append(f"<style>{STYLESHEET}</style>")
        parts.append(f'<rect width="{_n(width)}" height="{_n(height)}" fill="#fbfcfd"/>')
    deepest = max((n.depth for n in layout.nodes), default=0)
    containers = [n for n in layout.nodes if n.compound]
    parts.append('<g class="sl-containers">')
    for depth in range(deepest + 1):  # a container, then its groups, then what they hold
        parts.extend(_node(n) for n in containers if n.depth == depth)
        parts.extend(_group(g) for g in layout.groups if g.depth == depth + 1)
    parts.append('</g><g class="sl-edges">')
    parts.extend(_edge(e) for e in layout.edges)
    parts.append('</g><g class="sl-nodes">')
    parts.extend(_node(n) for n in layout.nodes if not n.compound)
    parts.append("</g></svg>")
    return "".join(parts)


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _node(node: Node) -> str:
    kind = node.type.lower() if node.type.isalpha() else "unknown"
    classes = ["sl-node", f"sl-node--{kind}"]
    if node.compound:
        classes.append("sl-compound")
    if node.type == "Start":
        classes.append("sl-marker")
    if node.terminal:
        classes.append("sl-end")
    label = f"{node.type} state {node.name}" if node.type != "Start" else node.name
    head = (f'<g class="{" ".join(classes)}" data-id={quoteattr(node.id)} data-name={quoteattr(node.name)} '
            f'data-type={quoteattr(node.type)} transform="translate({_n(node.x)},{_n(node.y)})" '
            f'aria-label={quoteattr(label)}>')
    body = [f"<title>{escape(node.name)} ({escape(node.type)})</title>"]
    if node.type == "Start":
        body.append(f'<rect width="{_n(node.w)}" height="{_n(node.h)}" rx="{_n(node.h / 2)}"/>')
        body.append(f'<text x="{_n(node.w / 2)}" y="{_n(node.h / 2 + 4)}" text-anchor="middle">'
                    f'{escape(node.name)}</text>')
        return head + "".join(body) + "</g>"
    body.append(f'<rect width="{_n(node.w)}" height="{_n(node.h)}" rx="6"/>')
    x, anchor, top = ("12", "", 18.0) if node.compound else (_n(node.w / 2), ' text-anchor="middle"', 20.0)
    for i, line in enumerate(node.title_lines):
        body.append(f'<text class="sl-name" x="{x}" y="{_n(top + i * LINE_H)}"{anchor}>{escape(line)}</text>')
    detail_y = top + (len(node.title_lines) - 1) * LINE_H + (15 if node.compound else 16)
    body.append(f'<text class="sl-detail" x="{x}" y="{_n(detail_y)}"{anchor}>{escape(node.detail)}</text>')
    if node.terminal:  # an end cap inside the box: where the execution stops
        body.append(f'<path class="sl-end-cap" d="M8,{_n(node.h - 3)} H{_n(node.w - 8)}"/>')
    if node.retry:
        body.append(f'<g class="sl-retry" transform="translate({_n(node.w - 14)},14)"><title>Retry: {node.retry} '
                    f'rule{"s" if node.retry > 1 else ""}</title><circle r="9"/>'
                    f'<text y="4" text-anchor="middle">↻{node.retry if node.retry > 1 else ""}</text></g>')
    return head + "".join(body) + "</g>"


def _group(group: Group) -> str:
    return (f'<g class="sl-group sl-group--{group.kind}" data-id={quoteattr(group.id)} '
            f'data-state={quoteattr(group.state)}><rect x="{_n(group.x)}" y="{_n(group.y)}" width="{_n(group.w)}" '
            f'height="{_n(group.h)}" rx="6"/><text x="{_n(group.x + 8)}" y="{_n(group.y + 15)}">'
            f"{escape(group.label)}</text></g>")


def _edge(edge: Edge) -> str:
    points = edge.points
    if edge.source == edge.target:  # a loop: straight lines around the box's side
        path = "M" + " L".join(f"{_n(x)},{_n(y)}" for x, y in points)
    else:
        path = f"M{_n(points[0][0])},{_n(points[0][1])}"
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            middle = (y0 + y1) / 2
            path += f" L{_n(x1)},{_n(y1)}" if x0 == x1 else \
                f" C{_n(x0)},{_n(middle)} {_n(x1)},{_n(middle)} {_n(x1)},{_n(y1)}"
    marker = "sl-arrow-catch" if edge.kind == "catch" else "sl-arrow"
    parts = [f'<g class="sl-edge sl-edge--{edge.kind}" data-id={quoteattr(edge.id)} '
             f'data-source={quoteattr(edge.source)} data-target={quoteattr(edge.target)}>']
    if edge.title:
        parts.append(f"<title>{escape(edge.title)}</title>")
    parts.append(f'<path d="{path}" marker-end="url(#{marker})"/>')
    if edge.label:
        width = labels.text_width(edge.label, labels.SMALL) + 8
        parts.append(f'<g class="sl-label"><rect x="{_n(edge.label_x - width / 2)}" y="{_n(edge.label_y - 8)}" '
                     f'width="{_n(width)}" height="16" rx="3"/><text x="{_n(edge.label_x)}" '
                     f'y="{_n(edge.label_y + 4)}" text-anchor="middle">{escape(edge.label)}</text></g>')
    parts.append("</g>")
    return "".join(parts)


def render_png(svg: str, *, scale: float = 2.0) -> bytes:
    """The SVG as PNG through CairoSVG (the `png` extra); ImportError when it is not installed."""
    import cairosvg  # type: ignore[import-untyped]  # optional: only `stepline graph -o out.png` needs it

    png: bytes = cairosvg.svg2png(bytestring=svg.encode(), scale=scale)
    return png
