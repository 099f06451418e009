"""Router function (container image with models/router): validates the request and picks the skills."""

from slmesh.cloud.routing import make_router_handler

handler = make_router_handler()
