"""Schemathesis against /openapi.json as callers the happy path never is: no key, a key of
another kind (a workspace key on the admin API), and a workspace with no credit. Every
refusal (401, 402, 403, 404, 405, 426) must be an answer the spec documents, in its shape.

test_openapi_fuzz.py runs every operation authenticated with credit; this file checks that
the spec also tells the truth about the refusals.
"""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from tests.gateway_process import RunningGateway, routed_gateway

EXAMPLES_PER_OPERATION = 8


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningGateway, str]]:
    with routed_gateway(tmp_path_factory.mktemp("fuzz-refusals")) as (gateway, _):
        yield gateway, gateway.new_workspace("broke", "0.00")


@pytest.fixture(scope="module")
def api_schema(fuzzed: tuple[RunningGateway, str]) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{fuzzed[0].base_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


FUZZ = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
# Refused callers get no 2xx by design: positive data is not expected to be accepted.
EXCLUDED = [checks.positive_data_acceptance, checks.missing_required_header]


@schema.parametrize()
@FUZZ
def test_anonymous_refusals_are_documented(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(excluded_checks=EXCLUDED)


@schema.parametrize()
@FUZZ
def test_a_workspace_without_credit_gets_documented_answers(
    case: schemathesis.Case[Any], fuzzed: tuple[RunningGateway, str]
) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Bearer {fuzzed[1]}"}, excluded_checks=EXCLUDED
    )
