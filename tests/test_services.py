from pathlib import Path

from voxgate.services import credentials
from voxgate.settings import Settings


def test_credentials_come_from_the_file_and_the_environment_wins(tmp_path: Path) -> None:
    path = tmp_path / "credentials.yaml"
    path.write_text("AZURE_OPENAI_API_KEY: from-file\nGEMINI_API_KEY: gemini-from-file\n")
    merged = credentials(Settings(credentials_file=path), {"AZURE_OPENAI_API_KEY": "from-env"})
    assert merged["AZURE_OPENAI_API_KEY"] == "from-env"
    assert merged["GEMINI_API_KEY"] == "gemini-from-file"


def test_without_a_file_only_the_environment_counts() -> None:
    assert credentials(Settings(), {"OPENAI_API_KEY": "k"}) == {"OPENAI_API_KEY": "k"}
