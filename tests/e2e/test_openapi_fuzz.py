"""Schemathesis against the gateway's own /openapi.json: every public operation, authenticated,
with generated (mostly invalid) input. No answer is a 500 and every answer matches the spec."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from tests.gateway_process import ADMIN_TOKEN, RunningGateway, routed_gateway

EXAMPLES_PER_OPERATION = 60


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with routed_gateway(tmp_path_factory.mktemp("fuzz")) as (gateway, _):
        yield gateway


@pytest.fixture(scope="module")
def api_schema(fuzzed: RunningGateway) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzzed.base_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_errors_and_answers_match_the_spec(
    case: schemathesis.Case, fuzzed: RunningGateway
) -> None:
    token = ADMIN_TOKEN if case.path.startswith("/admin/") else fuzzed.key
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        # The unified body's schema is the union of every model's fields; each model's catalog
        # row narrows it at run time, and the spec documents that refusal as a 400.
        excluded_checks=[checks.positive_data_acceptance],
    )


def test_the_spec_names_every_endpoint(fuzzed: RunningGateway, tmp_path: Path) -> None:
    loaded = schemathesis.openapi.from_url(f"{fuzzed.base_url}/openapi.json")
    paths = {operation.ok().path for operation in loaded.get_all_operations()}
    assert {"/api/v1/audio", "/v1/audio/speech", "/v1/chat/completions", "/api/v1/usage"} <= paths
