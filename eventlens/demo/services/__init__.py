"""The demo shop's services, one process each: `python -m eventlens.demo.services <name> [options]`
(or `python -m eventlens.demo.services.<module>`)."""

from __future__ import annotations

SERVICES: dict[str, str] = {
    "storefront": "eventlens.demo.services.storefront",
    "payments": "eventlens.demo.services.payments",
    "payments-relay": "eventlens.demo.services.payments_relay",
    "inventory": "eventlens.demo.services.inventory",
    "shipping": "eventlens.demo.services.shipping",
    "order-view": "eventlens.demo.services.order_view",
    "notifications": "eventlens.demo.services.notifications",
    "loyalty": "eventlens.demo.services.loyalty",
}
"""Service name (also its `service.name` and consumer group) → module with `main(argv)`."""
