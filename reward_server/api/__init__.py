"""The HTTP layer: the aiohttp app, its OpenAPI description and its Prometheus metrics.

Handlers parse and validate requests (pydantic models from ``reward_server.schemas``) and call
the :class:`~reward_server.service.RewardService`; nothing below this package knows about HTTP.
May import: service, config, schemas, storage (its lock note and message limit; and aiohttp, prometheus-client).
"""

from reward_server.api.app import SERVICE_KEY, create_app

__all__ = ["SERVICE_KEY", "create_app"]
