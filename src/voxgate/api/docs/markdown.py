"""A model's reference page as Markdown: what "Copy page as Markdown" copies and what
/docs/models/{id}.md serves. Plain text throughout; nothing here is HTML-escaped."""

from types import MappingProxyType

from voxgate.api.docs.view import PageView, Sample


def page_markdown(page: PageView) -> str:
    t = page.t
    blocks = [
        f"# {page.name} (`{page.id}`)",
        f"{t['developer_docs']} · {t['model_reference']}",
        page.summary,
        f"## {t['category_title']}\n\n{t['category_intro']} `POST {page.endpoint}`",
        f"## {t['card_title']}\n\n" + _list(_card(page)),
        f"### {t['pricing']}\n\n" + _list(_prices(page)) + f"\n\n{t['hold_note']}",
        f"## {t['integration_eyebrow']} — {page.integration_title}\n\n{t['integration_intro']}"
        f"\n\n`POST {page.endpoint}`\n\n" + _list(_connection(page)),
        f"### {t['routes_title']}\n\n"
        + "\n".join(
            f"{number}. {route.provider} · `{route.upstream_model}`"
            + (f" · {t['route_keys']}: " + ", ".join(route.keys) if route.keys else "")
            for number, route in enumerate(page.routes, start=1)
        ),
    ]
    if page.aliases:
        blocks.append(
            f"### {t['aliases_title']}\n\n{t['aliases_intro']}\n\n"
            + _list([f"`{alias}`: {reason}" for alias, reason in page.aliases])
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
            [[f.name, f.type, f.required, f.accepted, f.description] for f in page.fields],
        ),
        f"## {t['payload_eyebrow']} — {t['payload_title']}\n\n{t['payload_intro']}\n\n"
        f"### {t['example_payload']}\n\n```json\n{page.payload}\n```\n\n"
        f"### {t['response_shape']}\n\n```json\n{page.response}\n```",
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
                [[p.name, p.type, p.description] for p in page.chat_parameters],
            )
        )
    blocks.append(
        f"## {t['checklist_eyebrow']} — {t['checklist_title']}\n\n" + _list(page.checklist)
    )
    return "\n\n".join(blocks) + "\n"


def _card(page: PageView) -> list[str]:
    t = page.t
    badge = f"{t['badge_audio']} · " if page.speaks else ""
    lines = [f"{t['model_id']}: `{page.id}`", f"{t['badges_modality']}: {badge}{page.modalities}"]
    if page.context_window:
        lines.append(f"{t['badges_context']}: {page.context_window} {t['tokens']}")
    if page.max_output_tokens:
        lines.append(f"{t['badges_max_output']}: {page.max_output_tokens} {t['tokens']}")
    return lines


def _prices(page: PageView) -> list[str]:
    t = page.t
    lines = [f"{price.label}: {price.amount}" for price in page.prices]
    lines.append(f"{t['price_unit_minimum_hold_usd']}: {page.minimum_hold}")
    if page.output_cap:
        lines.append(f"{t['output_cap']}: {page.output_cap} {t['tokens']}")
    if page.typical_hold:
        lines.append(f"{t['typical_hold']}: {page.typical_hold}")
    return lines


def _connection(page: PageView) -> list[str]:
    t = page.t
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
