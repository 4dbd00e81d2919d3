"""The process's services, as the HTTP layer reaches them from a request or a socket."""

from starlette.requests import HTTPConnection

from voxgate.services import Services


def services_of(connection: HTTPConnection) -> Services:
    services: Services = connection.app.state.services
    return services
