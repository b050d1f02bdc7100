"""`GET /docs`: the OpenAPI document rendered as one self-contained HTML page (no CDN, no JS)."""

from __future__ import annotations

import html
from typing import Any

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
code,pre{background:#f4f4f4;border-radius:3px;padding:0 .2rem}
.op{border:1px solid #ddd;border-radius:4px;padding:.5rem 1rem;margin:1rem 0}
.method{font-weight:bold;color:#fff;background:#2a7ae2;border-radius:3px;padding:0 .4rem}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ddd;padding:.2rem .4rem;
text-align:left;vertical-align:top}
"""


def render(spec: dict[str, Any]) -> str:
    e = html.escape
    info = spec["info"]
    params = spec["components"]["parameters"]
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{e(info['title'])}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{e(info['title'])} <small>{e(info['version'])}</small></h1>",
        f"<p>{e(info.get('description', ''))}</p>",
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a></p>",
        "<h2>Routes</h2>",
    ]
    for path, item in spec["paths"].items():
        for method, op in item.items():
            out.append(f"<div class='op' id='{e(op.get('operationId', path))}'>")
            out.append(f"<p><span class='method'>{e(method.upper())}</span> <code>{e(path)}</code>")
            out.append(f" — {e(op.get('summary', ''))}</p>")
            if op.get("description"):
                out.append(f"<p>{e(op['description'])}</p>")
            resolved = [_resolve(p, params) for p in op.get("parameters", [])]
            if resolved:
                out.append("<table><tr><th>parameter</th><th>in</th><th>required</th>")
                out.append("<th>type</th><th>description</th></tr>")
                for p in resolved:
                    schema = p.get("schema", {})
                    kind = schema.get("type", "")
                    if "enum" in schema:
                        kind = f"{kind}: {', '.join(map(str, schema['enum']))}"
                    out.append(
                        f"<tr><td><code>{e(p['name'])}</code></td><td>{e(p['in'])}</td>"
                        f"<td>{'yes' if p.get('required') else 'no'}</td><td>{e(str(kind))}</td>"
                        f"<td>{e(p.get('description', ''))}</td></tr>"
                    )
                out.append("</table>")
            responses = op.get("responses", {})
            out.append("<p>Responses: ")
            out.append(
                ", ".join(
                    f"<code>{e(status)}</code> {e(r.get('description', ''))}"
                    for status, r in responses.items()
                )
            )
            out.append("</p></div>")
    out.append("<h2>Error codes</h2><table><tr><th>code</th><th>HTTP status</th></tr>")
    for code, status in spec.get("x-error-codes", {}).items():
        out.append(f"<tr><td><code>{e(code)}</code></td><td>{status}</td></tr>")
    out.append("</table><h2>Schemas</h2>")
    for name, schema in spec["components"]["schemas"].items():
        props = schema.get("properties", {})
        out.append(f"<h3 id='schema-{e(name)}'>{e(name)}</h3>")
        if props:
            required = set(schema.get("required", []))
            out.append("<table><tr><th>field</th><th>type</th><th>description</th></tr>")
            for field, prop in props.items():
                kind = prop.get("type", prop.get("$ref", "").rsplit("/", 1)[-1])
                if "const" in prop:
                    kind = f"const {prop['const']!r}"
                mark = "" if field in required else "?"
                out.append(
                    f"<tr><td><code>{e(field)}{mark}</code></td><td>{e(str(kind))}</td>"
                    f"<td>{e(prop.get('description', ''))}</td></tr>"
                )
            out.append("</table>")
    out.append("</body></html>")
    return "".join(out)


def _resolve(param: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    ref = param.get("$ref")
    if ref is None:
        return param
    resolved: dict[str, Any] = params[ref.rsplit("/", 1)[-1]]
    return resolved
