"""A request that fails after its decoding hold was placed gives the hold back at once, with a
usage record, whatever the failure (not one lifetime later, when the reaper finds it)."""

from pathlib import Path

import pytest

from voxgate.gateway.charge import Charge
from voxgate.testing import FakeProvider, InProcessGateway


async def test_a_fault_after_the_decoding_hold_releases_it(data_dir: Path) -> None:
    async with InProcessGateway(data_dir, providers=[FakeProvider("local")]) as vox:
        gateway = vox.services.gateway
        row = gateway.catalog.get("local-whisper-tiny-en")
        assert row is not None

        async def build(charge: Charge) -> tuple:  # type: ignore[type-arg]
            await charge.cover_decoding(row)
            raise RuntimeError("the decoder failed")

        with pytest.raises(RuntimeError):
            await gateway.run(vox.principal, "req_decode_fault", build, model=row.id)
        wallet = await vox.wallet()
        assert wallet.held_micro_usd == 0
        record = await vox.usage("req_decode_fault")
        assert record is not None
        assert (record["status"], record["error_code"]) == ("failed", "internal_error")
        assert record["hold_micro_usd"] > 0 and record["charged_micro_usd"] == 0
