"""``GET /docs``: the OpenAPI document as a readable page, with nothing fetched from the
internet (no CDN: the page's script and style are inline, and it reads ``/openapi.json``
from the same server)."""

from __future__ import annotations

__all__ = ["DOCS_HTML"]

DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Device Fleet API (local)</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { margin-bottom: 0; } .muted { color: #666; }
.op { border: 1px solid #ccc; border-radius: 6px; margin: 1.2em 0; padding: 0.6em 1em; }
.method { font-weight: bold; padding: 0.1em 0.5em; border-radius: 4px; color: #fff; }
.GET { background: #1f6feb; } .POST { background: #2da44e; }
.PUT, .PATCH { background: #bf8700; } .DELETE { background: #cf222e; }
code, pre { font: 13px ui-monospace, monospace; background: #f6f8fa; }
pre { padding: 0.6em; overflow-x: auto; }
table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 0.2em 0.5em; }
</style>
</head>
<body>
<h1 id="title">Device Fleet API</h1>
<p class="muted">Served by the local stack from <a href="openapi.json">/openapi.json</a>.
Locally the header <code>X-Dev-User: user-0001</code> stands for the JWT.</p>
<div id="doc">Loading /openapi.json ...</div>
<script>
"use strict";
function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}
function resolve(doc, node) {
  let guard = 0;
  while (node && node.$ref && guard++ < 20) {
    node = node.$ref.replace(/^#\\//, "").split("/").reduce((o, k) => o && o[k], doc);
  }
  return node || {};
}
function render(doc) {
  const root = document.getElementById("doc");
  root.textContent = "";
  document.getElementById("title").textContent =
    (doc.info && doc.info.title ? doc.info.title : "API") +
    (doc.info && doc.info.version ? " " + doc.info.version : "");
  if (doc.info && doc.info.description) root.appendChild(el("p", doc.info.description));
  for (const server of doc.servers || []) root.appendChild(el("p", "Server: " + server.url));
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      if (typeof op !== "object" || method === "parameters") continue;
      const box = el("div", undefined, "op");
      const head = el("h3");
      head.appendChild(el("span", method.toUpperCase(), "method " + method.toUpperCase()));
      head.appendChild(document.createTextNode(" " + path));
      box.appendChild(head);
      if (op.summary) box.appendChild(el("p", op.summary));
      if (op.description) box.appendChild(el("p", op.description, "muted"));
      const params = (item.parameters || []).concat(op.parameters || []);
      if (params.length) {
        const table = el("table");
        const header = el("tr");
        for (const h of ["parameter", "in", "required", "schema", "description"]) {
          header.appendChild(el("th", h));
        }
        table.appendChild(header);
        for (const raw of params) {
          const p = resolve(doc, raw);
          const row = el("tr");
          row.appendChild(el("td", p.name));
          row.appendChild(el("td", p.in));
          row.appendChild(el("td", p.required ? "yes" : "no"));
          row.appendChild(el("td", JSON.stringify(resolve(doc, p.schema))));
          row.appendChild(el("td", p.description || ""));
          table.appendChild(row);
        }
        box.appendChild(table);
      }
      if (op.requestBody) {
        box.appendChild(el("h4", "Request body"));
        const content = resolve(doc, op.requestBody).content || {};
        for (const [type, media] of Object.entries(content)) {
          box.appendChild(el("p", type));
          box.appendChild(el("pre", JSON.stringify(resolve(doc, media.schema), null, 2)));
        }
      }
      box.appendChild(el("h4", "Responses"));
      const list = el("ul");
      for (const [status, raw] of Object.entries(op.responses || {})) {
        const response = resolve(doc, raw);
        list.appendChild(el("li", status + ": " + (response.description || "")));
      }
      box.appendChild(list);
      root.appendChild(box);
    }
  }
  if (doc.components && doc.components.schemas) {
    root.appendChild(el("h2", "Schemas"));
    for (const [name, schema] of Object.entries(doc.components.schemas)) {
      root.appendChild(el("h4", name));
      root.appendChild(el("pre", JSON.stringify(schema, null, 2)));
    }
  }
}
fetch("openapi.json")
  .then((r) => r.json())
  .then(render)
  .catch((e) => { document.getElementById("doc").textContent = "Cannot load: " + e; });
</script>
</body>
</html>
"""
