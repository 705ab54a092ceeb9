"""The demo shop's topics and consumer groups, all named from one prefix so several runs can share a broker."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "shop."


@dataclass(frozen=True, slots=True)
class Topics:
    """Every topic the shop uses; `prefix` keeps concurrent demos (and tests) apart on one broker."""

    prefix: str = DEFAULT_PREFIX

    def _t(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @property
    def orders(self) -> str:
        """`order.placed` CloudEvents (binary mode), versions 1 and 2."""
        return self._t("orders")

    @property
    def payments(self) -> str:
        """`payment.captured` / `payment.declined`, published by the outbox relay."""
        return self._t("payments")

    @property
    def inventory(self) -> str:
        """Thin notification events: `inventory.reserved` with ids only."""
        return self._t("inventory")

    @property
    def stock(self) -> str:
        """Fat state-transfer events: `inventory.stock-level` with the whole stock item."""
        return self._t("stock")

    @property
    def shipping_commands(self) -> str:
        """Asynchronous commands to shipping (`reply-to` + `correlation-id` headers)."""
        return self._t("shipping.commands")

    @property
    def inventory_replies(self) -> str:
        """Replies from shipping to inventory's commands."""
        return self._t("inventory.replies")

    @property
    def shipments(self) -> str:
        """`shipment.label-created`: the label is stored aside, the event carries a claim check."""
        return self._t("shipments")

    @property
    def loyalty_retry(self) -> str:
        """Loyalty's retry topic (records carry their attempt number and not-before time)."""
        return self._t("loyalty.retry")

    @property
    def loyalty_dlq(self) -> str:
        """Loyalty's dead-letter topic."""
        return self._t("loyalty.dlq")

    def all(self) -> dict[str, int]:
        """Every topic with its partition count."""
        return {
            self.orders: 3,
            self.payments: 3,
            self.inventory: 2,
            self.stock: 2,
            self.shipping_commands: 2,
            self.inventory_replies: 1,
            self.shipments: 2,
            self.loyalty_retry: 1,
            self.loyalty_dlq: 1,
        }

    def subscriptions(self) -> dict[str, tuple[str, ...]]:
        """Which topics each consuming service reads (its consumer group is `group(service)`)."""
        return {
            "payments": (self.orders,),
            "inventory": (self.orders, self.inventory_replies),
            "shipping": (self.payments, self.shipping_commands),
            "order-view": (self.orders, self.payments, self.inventory, self.stock, self.shipments),
            "notifications": (self.shipments, self.payments),
            "loyalty": (self.payments, self.loyalty_retry),
        }

    def group(self, service: str) -> str:
        """The consumer group of one service."""
        return f"{self.prefix}{service}"
