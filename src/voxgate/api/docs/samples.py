"""Copy-ready code for one model, in six languages, all made from the model's example payload."""

import json
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

KEY_PLACEHOLDER = "YOUR_VOXGATE_KEY"


def _curl(url: str, payload: dict[str, Any]) -> str:
    quoted = _json(payload).replace("'", "'\\''")
    return (
        f"curl -sS --fail-with-body {url} \\\n"
        f'  -H "Authorization: Bearer {KEY_PLACEHOLDER}" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d '{quoted}'"
    )


def _javascript(url: str, payload: dict[str, Any]) -> str:
    body = _json(payload)
    return (
        f'const response = await fetch("{url}", {{\n'
        '  method: "POST",\n'
        f'  headers: {{ "Authorization": "Bearer {KEY_PLACEHOLDER}", "Content-Type": "application/json" }},\n'
        f"  body: JSON.stringify({body}),\n"
        "});\n"
        "if (!response.ok) throw new Error(await response.text());\n"
        "console.log(JSON.stringify(await response.json()));"
    )


def _python(url: str, payload: dict[str, Any]) -> str:
    body = repr(payload)
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
    body = _json(payload).replace("\\", "\\\\").replace("'", "\\'")
    return (
        "<?php\n"
        f'$ch = curl_init("{url}");\n'
        "curl_setopt_array($ch, [\n"
        "    CURLOPT_POST => true,\n"
        "    CURLOPT_RETURNTRANSFER => true,\n"
        f'    CURLOPT_HTTPHEADER => ["Authorization: Bearer {KEY_PLACEHOLDER}", "Content-Type: application/json"],\n'
        f"    CURLOPT_POSTFIELDS => '{body}',\n"
        "]);\n"
        "$body = curl_exec($ch);\n"
        "if (curl_getinfo($ch, CURLINFO_HTTP_CODE) !== 200) { fwrite(STDERR, $body); exit(1); }\n"
        "echo $body, PHP_EOL;"
    )


def _csharp(url: str, payload: dict[str, Any]) -> str:
    escaped = _json(payload).replace('"', '""')
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
    body = _json(payload)
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


def _json(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)


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
