"""GET /api/v1/usage filters by request id, key, status and task beside model and time, within
the caller's workspace; a bad filter is a 400 naming it."""

import secrets

from tests.e2e.conftest import RunningGateway

SPEECH = {"model": "local-tts", "input": "Filter me.", "response_format": "pcm16"}


def test_the_usage_list_filters_by_request_id_key_status_and_task(
    gateway: RunningGateway,
) -> None:
    key = gateway.new_workspace(f"filters-{secrets.token_hex(4)}", "1.00")
    with gateway.client(key) as client:
        ids = [client.post("/api/v1/audio", json=SPEECH).headers["x-request-id"] for _ in range(2)]
        refused = client.post("/api/v1/audio", json=SPEECH | {"input": ""})
        assert refused.status_code == 400
        everything = client.get("/api/v1/usage").json()["data"]
        assert len(everything) == 3, "no filter: every record, as before"
        key_id = everything[0]["key_id"]

        def listed(**params: str) -> list[str]:
            answer = client.get("/api/v1/usage", params=params)
            assert answer.status_code == 200, answer.text
            return sorted(record["request_id"] for record in answer.json()["data"])

        assert listed(request_id=ids[1]) == [ids[1]]
        assert listed(key_id=key_id, status="succeeded") == sorted(ids)
        assert listed(status="rejected") == [refused.headers["x-request-id"]]
        assert listed(task="tts", model="local-tts") == sorted(ids)
        assert listed(key_id="key_of_nobody") == []
        bad = client.get("/api/v1/usage", params={"status": "exploded"})
    assert bad.status_code == 400
    assert bad.json()["error"]["param"] == "status"


def test_a_request_id_of_another_workspace_finds_nothing(gateway: RunningGateway) -> None:
    theirs = gateway.new_workspace(f"theirs-{secrets.token_hex(4)}", "1.00")
    mine = gateway.new_workspace(f"mine-{secrets.token_hex(4)}", "1.00")
    with gateway.client(theirs) as client:
        their_id = client.post("/api/v1/audio", json=SPEECH).headers["x-request-id"]
    with gateway.client(mine) as client:
        assert client.get("/api/v1/usage", params={"request_id": their_id}).json()["data"] == []
