"""Copy-ready code for one model, in six languages, all made from the model's example payload.
The payload is pretty-printed in each, one field a line, indented to sit in its statement."""

import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

KEY_PLACEHOLDER = "YOUR_VOXGATE_KEY"
INDENT = "  "


def _curl(url: str, payload: dict[str, Any]) -> str:
    quoted = _json(payload, INDENT).replace("'", "'\\''")
    return (
        f"curl -sS --fail-with-body {url} \\\n"
        f'  -H "Authorization: Bearer {KEY_PLACEHOLDER}" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d '{quoted}'"
    )


def _javascript(url: str, payload: dict[str, Any]) -> str:
    body = _json(payload, INDENT)
    return (
        f'const response = await fetch("{url}", {{\n'
        '  method: "POST",\n'
        "  headers: {\n"
        f'    "Authorization": "Bearer {KEY_PLACEHOLDER}",\n'
        '    "Content-Type": "application/json",\n'
        "  },\n"
        f"  body: JSON.stringify({body}),\n"
        "});\n"
        "if (!response.ok) throw new Error(await response.text());\n"
        "console.log(JSON.stringify(await response.json()));"
    )


def _python(url: str, payload: dict[str, Any]) -> str:
    body = _python_literal(payload, "    ")
    return (
        "import requests\n\n"
        "response = requests.post(\n"
        f'    "{url}",\n'
        f'    headers={{"Authorization": "Bearer {KEY_PLACEHOLDER}"}},\n'
        f"    json={body},\n"
        "    timeout=120,\n"
        ")\n"
        "response.raise_for_status()\n"
        "print(response.text)"
    )


def _php(url: str, payload: dict[str, Any]) -> str:
    body = _json(payload, "    ").replace("\\", "\\\\").replace("'", "\\'")
    return (
        "<?php\n"
        f'$ch = curl_init("{url}");\n'
        "curl_setopt_array($ch, [\n"
        "    CURLOPT_POST => true,\n"
        "    CURLOPT_RETURNTRANSFER => true,\n"
        "    CURLOPT_HTTPHEADER => [\n"
        f'        "Authorization: Bearer {KEY_PLACEHOLDER}",\n'
        '        "Content-Type: application/json",\n'
        "    ],\n"
        f"    CURLOPT_POSTFIELDS => '{body}',\n"
        "]);\n"
        "$body = curl_exec($ch);\n"
        "if (curl_getinfo($ch, CURLINFO_HTTP_CODE) !== 200) { fwrite(STDERR, $body); exit(1); }\n"
        "echo $body, PHP_EOL;"
    )


def _csharp(url: str, payload: dict[str, Any]) -> str:
    escaped = _json(payload, "").replace('"', '""')
    return (
        "using System.Net.Http;\nusing System.Text;\n\n"
        "using var client = new HttpClient();\n"
        f'client.DefaultRequestHeaders.Add("Authorization", "Bearer {KEY_PLACEHOLDER}");\n'
        f'var body = new StringContent(@"{escaped}", Encoding.UTF8, "application/json");\n'
        f'var response = await client.PostAsync("{url}", body);\n'
        "response.EnsureSuccessStatusCode();\n"
        "Console.WriteLine(await response.Content.ReadAsStringAsync());"
    )


def _go(url: str, payload: dict[str, Any]) -> str:
    body = _json(payload, "\t")
    return (
        "package main\n\n"
        'import (\n\t"fmt"\n\t"io"\n\t"net/http"\n\t"strings"\n)\n\n'
        "func main() {\n"
        f"\tbody := strings.NewReader(`{body}`)\n"
        f'\treq, _ := http.NewRequest("POST", "{url}", body)\n'
        f'\treq.Header.Set("Authorization", "Bearer {KEY_PLACEHOLDER}")\n'
        '\treq.Header.Set("Content-Type", "application/json")\n'
        "\tresp, err := http.DefaultClient.Do(req)\n"
        "\tif err != nil {\n\t\tpanic(err)\n\t}\n"
        "\tdefer resp.Body.Close()\n"
        "\tout, _ := io.ReadAll(resp.Body)\n"
        "\tif resp.StatusCode != http.StatusOK {\n\t\tpanic(string(out))\n\t}\n"
        "\tfmt.Println(string(out))\n"
        "}"
    )


def _json(payload: dict[str, Any], margin: str) -> str:
    """Pretty JSON whose lines after the first start at `margin`, the statement's indent."""
    pretty = json.dumps(payload, indent=2, ensure_ascii=False)
    return pretty.replace("\n", "\n" + margin)


def _python_literal(value: Any, margin: str) -> str:
    """The payload as a Python literal laid out like the JSON (True, False and None where JSON
    has true, false and null); a JSON string literal is a valid Python one."""
    inner = margin + "    "
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {_python_literal(v, inner)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + f"\n{margin}}}" if items else "{}"
    if isinstance(value, list):
        items = [f"{inner}{_python_literal(v, inner)}," for v in value]
        return "[\n" + "\n".join(items) + f"\n{margin}]" if items else "[]"
    if isinstance(value, bool) or value is None:
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


LANGUAGES: Mapping[str, tuple[str, Callable[[str, dict[str, Any]], str]]] = MappingProxyType(
    {
        "curl": ("cURL", _curl),
        "javascript": ("JavaScript fetch", _javascript),
        "python": ("Python requests", _python),
        "php": ("PHP cURL", _php),
        "csharp": ("C# HttpClient", _csharp),
        "go": ("Go net/http", _go),
    }
)


def code_samples(url: str, payload: dict[str, Any]) -> dict[str, str]:
    return {name: render(url, payload) for name, (_, render) in LANGUAGES.items()}
