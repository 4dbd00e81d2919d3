"""A model's reference page as Markdown: what "Copy page as Markdown" copies and what
/docs/models/{id}.md serves. Nothing here is HTML-escaped; prose is Markdown-escaped, so that
`<workspace key>` reads as text and not as an HTML tag a renderer drops."""

import re
from types import MappingProxyType

from voxgate.api.docs.locales import CODE_SPAN
from voxgate.api.docs.view import Accepted, PageView, Sample

# Markdown reads <…> as inline HTML or an autolink; a backslash keeps the brackets as text.
_ANGLE = re.compile(r"([<>])")
# Unicode's directional isolates: left-to-right text inside a right-to-left line keeps its own
# order (a range, a list of ids), as <bdi dir="ltr"> does on the HTML page.
LTR_ISOLATE, FIRST_STRONG_ISOLATE, POP_ISOLATE = "\u2066", "\u2068", "\u2069"


def page_markdown(page: PageView) -> str:
    rtl = page.t["dir"] == "rtl"
    t = {key: _prose(value, rtl) for key, value in page.t.items()}
    blocks = [
        f"# {page.name} (`{page.id}`)",
        f"{t['developer_docs']} · {t['model_reference']}",
        _prose(page.summary.text, rtl),
        f"## {t['category_title']}\n\n{t['category_intro']} `POST {page.endpoint}`",
        f"## {t['card_title']}\n\n" + _list(_card(page, t)),
        f"### {t['pricing']}\n\n" + _list(_prices(page, t)) + f"\n\n{t['hold_note']}",
        f"## {t['integration_eyebrow']} — "
        + t["integration_title"].replace("{model}", _isolated(_prose(page.name, rtl), rtl))
        + f"\n\n{t['integration_intro']}\n\n`POST {page.endpoint}`\n\n"
        + _list(_connection(page, t)),
        f"### {t['routes_title']}\n\n"
        + "\n".join(
            f"{number}. {route.provider} · `{route.upstream_model}`"
            + (
                " · " + t["route_keys"].replace("{n}", str(route.key_count))
                if route.key_count > 1
                else ""
            )
            for number, route in enumerate(page.routes, start=1)
        ),
    ]
    if page.aliases:
        blocks.append(
            f"### {t['aliases_title']}\n\n{t['aliases_intro']}\n\n"
            + _list([f"`{alias}`: {_prose(reason.text, rtl)}" for alias, reason in page.aliases])
        )
    blocks += [
        f"## {t['schema_eyebrow']} — {t['schema_title']}\n\n{t['schema_intro']}\n\n"
        + _table(
            [
                t[key]
                for key in (
                    "field_name",
                    "field_type",
                    "field_required",
                    "field_accepted",
                    "field_description",
                )
            ],
            [
                [
                    f"`{f.name}`",
                    f.type,
                    f.required,
                    _accepted(f.accepted, page),
                    _prose(f.description.text, rtl),
                ]
                for f in page.fields
            ],
        ),
        f"## {t['payload_eyebrow']} — {t['payload_title']}\n\n{t['payload_intro']}\n\n"
        f"### {t['example_payload']}\n\n```json\n{page.payload}\n```\n\n"
        f"### {t['response_shape']}\n\n```json\n{page.response}\n```\n\n" + _responses(page, t),
        f"## {t['examples_eyebrow']} — {t['examples_title']}\n\n{t['examples_intro']}\n\n"
        + _samples(page.samples),
    ]
    if page.chat_samples:
        blocks.append(
            f"## {t['chat_eyebrow']} — {t['chat_title']}\n\n{t['chat_intro']}\n\n"
            + _samples(page.chat_samples)
            + f"\n\n### {t['params_title']}\n\n{t['params_intro']}\n\n"
            + _table(
                [t["field_name"], t["field_type"], t["field_description"]],
                [
                    [f"`{p.name}`", p.type, _prose(p.description.text, rtl)]
                    for p in page.chat_parameters
                ],
            )
        )
    blocks.append(
        f"## {t['checklist_eyebrow']} — {t['checklist_title']}\n\n"
        + _list([_prose(point, rtl) for point in page.checklist])
    )
    return "\n\n".join(blocks) + "\n"


def _prose(text: str, rtl: bool) -> str:
    """Markdown-escaped text; its `code` spans stay as they are (a backslash would show in
    them), isolated left to right on a right-to-left page."""
    parts = CODE_SPAN.split(text)
    return "".join(
        (f"{LTR_ISOLATE}`{part}`{POP_ISOLATE}" if rtl else f"`{part}`")
        if index % 2
        else _ANGLE.sub(r"\\\1", part)
        for index, part in enumerate(parts)
    )


def _isolated(name: str, rtl: bool) -> str:
    """A name, whichever way it reads, kept whole inside a right-to-left heading."""
    return f"{FIRST_STRONG_ISOLATE}{name}{POP_ISOLATE}" if rtl else name


def _ltr(text: str, page: PageView) -> str:
    return f"{LTR_ISOLATE}{text}{POP_ISOLATE}" if page.t["dir"] == "rtl" else text


def _accepted(lines: tuple[Accepted, ...], page: PageView) -> str:
    shown = []
    for line in lines:
        rtl = page.t["dir"] == "rtl"
        text = _ltr(line.text, page) if line.literal else _prose(line.text, rtl)
        shown.append(f"{_prose(line.label, rtl)}: {text}" if line.label else text)
    return "; ".join(shown)


def _responses(page: PageView, t: dict[str, str]) -> str:
    blocks = [f"### {t['responses_title']}\n\n{t['responses_intro']}"]
    for response in page.responses:
        blocks.append(
            f"#### {t['task_' + response.task]} · `task: {response.task}` · "
            f"`object: {response.object}`\n\n"
            + _table(
                [t["response_key"], t["field_type"], t["field_description"]],
                [
                    [f"`data.{key.name}`", _ltr(key.type, page), t["data_" + key.name]]
                    for key in response.data
                ],
            )
            + f"\n\n```json\n{response.sample_json}\n```"
        )
    blocks.append(
        f"#### {t['usage_title']}\n\n{t['usage_intro']}\n\n"
        + _table(
            [t["response_key"], t["field_type"], t["field_description"]],
            [
                [f"`usage.{key.name}`", key.type, t["usage_" + key.name]]
                for key in page.responses[0].usage
            ],
        )
    )
    return "\n\n".join(blocks)


def _card(page: PageView, t: dict[str, str]) -> list[str]:
    badge = f"{t['badge_audio']} · " if page.speaks else ""
    lines = [f"{t['model_id']}: `{page.id}`", f"{t['badges_modality']}: {badge}{page.modalities}"]
    if page.context_window:
        lines.append(f"{t['badges_context']}: {page.context_window} {t['tokens']}")
    if page.max_output_tokens:
        lines.append(f"{t['badges_max_output']}: {page.max_output_tokens} {t['tokens']}")
    return lines


def _prices(page: PageView, t: dict[str, str]) -> list[str]:
    lines = [f"{price.label}: {price.amount}" for price in page.prices]
    lines.append(f"{t['price_unit_minimum_hold_usd']}: {page.minimum_hold}")
    if page.output_cap:
        lines.append(f"{t['output_cap']}: {page.output_cap} {t['tokens']}")
    if page.typical_hold:
        lines.append(f"{t['typical_hold']}: {page.typical_hold}")
    return lines


def _connection(page: PageView, t: dict[str, str]) -> list[str]:
    lines = [
        f"{t['connect_provider']}: {page.provider}",
        f"{t['connect_endpoint_type']}: `{page.endpoint_type}`",
    ]
    if page.context_window:
        lines.append(f"{t['badges_context']}: {page.context_window} {t['tokens']}")
    if page.max_output_tokens:
        lines.append(f"{t['badges_max_output']}: {page.max_output_tokens} {t['tokens']}")
    return lines


def _list(lines: list[str] | tuple[str, ...]) -> str:
    return "\n".join(f"- {line}" for line in lines)


def _table(header: list[str], rows: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *(line(row) for row in rows)])


# Fence info strings that Markdown highlighters know, where ours differ.
FENCE_LANGUAGES = MappingProxyType({"curl": "bash"})


def _samples(samples: tuple[Sample, ...]) -> str:
    # A fence longer than any run of backticks in the code, so Go's raw strings stay inside.
    return "\n\n".join(
        f"#### {sample.label}\n\n````{FENCE_LANGUAGES.get(sample.language, sample.language)}\n"
        f"{sample.code}\n````"
        for sample in samples
    )
