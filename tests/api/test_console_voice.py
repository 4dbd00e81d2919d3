"""The console's voice page renders in every language, with what its script reads."""

import pytest

from voxgate.api.console.render import templates


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_voice_page_renders_with_its_labels(language: str) -> None:
    loaded = templates()
    html = loaded.environment.get_template("voice.html").render(
        t=loaded.labels[language],
        lang=language,
        languages=sorted(loaded.labels),
        session=None,
        csrf="",
        here="/console/voice",
        models=["gpt-realtime", "local-realtime"],
        default_model="local-realtime",
        mints_here=False,
        instructions="Answer briefly.",
    )
    assert 'id="voice-key"' in html and 'src="/console/static/voice.js"' in html
    assert f'data-live="{loaded.labels[language]["voice_live"]}"' in html
    assert '<option value="local-realtime" selected>' in html
