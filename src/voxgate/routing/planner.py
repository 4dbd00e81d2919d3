"""Turns a model's catalog routes into attempts the gateway can make, in order."""

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import SecretStr

from voxgate.catalog.schema import Credential, ModelRow, Route
from voxgate.errors import ServiceUnavailableError
from voxgate.providers.protocols import Upstream

ProviderT = TypeVar("ProviderT")
# What serves a capability, by provider name (None where the build has none that does): a
# registry's lookup, such as `ProviderRegistry.speech`.
Serving = Callable[[str], ProviderT | None]


@dataclass(frozen=True, slots=True)
class PlannedAttempt(Generic[ProviderT]):
    provider: ProviderT
    route: Route
    upstream: Upstream
    credential_name: str | None

    @property
    def label(self) -> str:
        """How the attempt is named on usage records: provider/model[#credential]."""
        suffix = f"#{self.credential_name}" if self.credential_name else ""
        return f"{self.route.provider}/{self.route.upstream_model}{suffix}"


class RoutePlanner:
    def __init__(
        self, environment: Mapping[str, str], draw: Callable[[], float] = random.random
    ) -> None:
        self._environment = environment
        self._draw = draw
        # The environment is read once per route: every request plans, and credentials do not
        # change while the process runs. Keyed by id, the route kept alive beside its answer.
        self._upstreams_of: dict[int, tuple[Route, list[tuple[Upstream, str | None]]]] = {}

    def plan(self, row: ModelRow, serving: Serving[ProviderT]) -> list[PlannedAttempt[ProviderT]]:
        """Every usable (route, credential) pair whose provider is `serving`, in catalog order."""
        attempts = [
            PlannedAttempt(provider, route, upstream, credential)
            for route in self._ordered(row)
            if (provider := serving(route.provider)) is not None
            for upstream, credential in self._usable(route)
        ]
        if not attempts:
            raise self.unavailable(row, serving)
        return attempts

    def unavailable(self, row: ModelRow, serving: Serving[object]) -> ServiceUnavailableError:
        """The 503 for a model none of whose routes can be served, naming what to configure.

        Nothing changes by trying again, so clients that honour it (every OpenAI SDK) don't.
        """
        return ServiceUnavailableError(
            self._what_to_configure(row, serving),
            code="no_route_configured",
            headers={"x-should-retry": "false"},
        )

    def _ordered(self, row: ModelRow) -> list[Route]:
        if row.route_order == "ordered":
            return list(row.routes)
        # A weighted random order (Efraimidis-Spirakis): the rest stay behind as failover.
        return sorted(row.routes, key=lambda r: self._draw() ** (1 / r.weight), reverse=True)

    def _usable(self, route: Route) -> list[tuple[Upstream, str | None]]:
        known = self._upstreams_of.get(id(route))
        if known is None:
            known = self._upstreams_of[id(route)] = (route, self._upstreams(route))
        return known[1]

    def _upstreams(self, route: Route) -> list[tuple[Upstream, str | None]]:
        if not route.credentials:
            return [(Upstream(model=route.upstream_model, api_version=route.api_version), None)]
        return [
            (upstream, credential.name)
            for credential in route.credentials
            if (upstream := self._upstream(route, credential)) is not None
        ]

    def _upstream(self, route: Route, credential: Credential) -> Upstream | None:
        api_key = self._environment.get(credential.api_key_env)
        base_url = self._environment.get(credential.base_url_env or "") or credential.base_url
        if not api_key or (credential.base_url_env and not base_url):
            return None
        return Upstream(
            model=route.upstream_model,
            base_url=base_url,
            credential=SecretStr(api_key),
            api_version=route.api_version,
        )

    def _what_to_configure(self, row: ModelRow, serving: Serving[object]) -> str:
        needs = []
        for route in row.routes:
            if serving(route.provider) is None:
                needs.append(f"the '{route.provider}' provider, which this build does not include")
            needs.extend(
                f"credential '{credential.name}' ({' and '.join(name for name in names if name)})"
                for credential in route.credentials
                if self._upstream(route, credential) is None
                for names in [(credential.api_key_env, credential.base_url_env)]
            )
        return f"Model '{row.id}' has no route ready to serve it. Configure {'; '.join(needs)}."
