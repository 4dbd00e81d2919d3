"""What a realtime session takes from the gateway that owns it.

`AudioGateway.open_session` (gateway/pipeline.py) builds and serves the sessions, so the session
modules name their gateway by this protocol and never import the pipeline back: the import
graph keeps its one direction.
"""

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from opentelemetry.trace import Tracer

from voxgate.catalog.loader import Catalog
from voxgate.catalog.schema import ModelRow
from voxgate.gateway.cascade_legs import Legs
from voxgate.gateway.charge import Charge
from voxgate.providers.registry import ProviderRegistry
from voxgate.routing.failover import Success
from voxgate.routing.planner import PlannedAttempt, RoutePlanner
from voxgate.store.keys import Principal

ResultT = TypeVar("ResultT")


class SessionGateway(Protocol):
    """The gateway's parts a session uses: its catalog, planner and providers, the one
    failover loop, a cascade row's legs, and Charges for what a session bills apart."""

    @property
    def catalog(self) -> Catalog: ...

    @property
    def planner(self) -> RoutePlanner: ...

    @property
    def providers(self) -> ProviderRegistry: ...

    @property
    def tracer(self) -> Tracer: ...

    def legs(self, row: ModelRow, charge: Charge | None = None) -> Legs: ...

    def open_charge(self, principal: Principal, request_id: str, model: str = "") -> Charge: ...

    async def require_minimum(self, principal: Principal, row: ModelRow) -> None: ...

    async def attempts(
        self,
        model: str,
        attempts: list[PlannedAttempt[Any]],
        run: Callable[[PlannedAttempt[Any]], Awaitable[ResultT]],
    ) -> Success[ResultT]: ...
