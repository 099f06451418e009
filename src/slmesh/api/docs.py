"""GET /docs: Swagger UI over the served OpenAPI document, with a plain fallback where its script cannot load."""

from __future__ import annotations

import html

SWAGGER_UI = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.17.14"
"""Swagger UI is loaded by the browser, as FastAPI does; the server itself never reaches out."""


def docs_page(openapi_url: str) -> str:
    url = html.escape(openapi_url, quote=True)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>slmesh API</title>
<link rel="stylesheet" href="{SWAGGER_UI}/swagger-ui.css">
</head>
<body>
<div id="ui"><p>The API contract is <a href="{url}">{url}</a>. Loading the interactive docs&hellip;</p></div>
<script src="{SWAGGER_UI}/swagger-ui-bundle.js"></script>
<script>
if (window.SwaggerUIBundle) {{
  SwaggerUIBundle({{url: "{url}", dom_id: "#ui", tryItOutEnabled: true}});
}} else {{
  document.getElementById("ui").innerHTML =
    '<p>Swagger UI could not be loaded (offline?). The contract is <a href="{url}">{url}</a>; try it with ' +
    '<code>curl -s ' + location.origin + '/v1/analyze -d \\'{{"prompt": "..."}}\\'</code>.</p>';
}}
</script>
</body>
</html>
"""
