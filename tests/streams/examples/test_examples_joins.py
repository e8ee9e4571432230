"""The join examples on the test driver: order enrichment, customer totals by country, order-payment matching.

Expected outputs are worked out by hand from Kafka Streams' join rules (see the comments); the
scripts themselves run against a broker in test_examples_broker.py.
"""

from __future__ import annotations

from typing import Any

from tests.streams.examples.test_examples_driver import load

from streamlog.streams.testing import TestDriver

order_enrichment = load("order_enrichment")
customer_totals_by_country = load("customer_totals_by_country")
order_payment_matching = load("order_payment_matching")

MINUTE = 60_000
ADA_UK = {"name": "Ada", "country": "UK"}
ADA_FR = {"name": "Ada", "country": "FR"}
BO_SE = {"name": "Bo", "country": "SE"}


def order(customer_id: str, amount: int) -> dict[str, Any]:
    return {"customer_id": customer_id, "amount": amount}


# ----------------------------------------------------------------------------- order enrichment
def test_order_enrichment_joins_each_order_with_its_customer_at_that_moment() -> None:
    m = order_enrichment
    with TestDriver(m.build_app()) as driver:
        def enriched() -> list[tuple[Any, Any, int]]:
            return [(r.key, r.value, r.timestamp) for r in driver.read(m.OUTPUT)]

        driver.pipe(m.CUSTOMERS, "c-1", ADA_UK, timestamp=1)
        assert enriched() == []  # a table update alone writes nothing
        driver.pipe(m.ORDERS, "o-1", order("c-1", 1250), timestamp=10)
        # re-keyed by customer id; the order's own timestamp
        assert enriched() == [("c-1", {**order("c-1", 1250), "customer": ADA_UK}, 10)]

        driver.pipe(m.ORDERS, "o-2", order("c-9", 300), timestamp=20)  # c-9 unknown: the left join keeps it
        assert enriched() == [("c-9", {**order("c-9", 300), "customer": None}, 20)]

        driver.pipe(m.CUSTOMERS, "c-9", BO_SE, timestamp=30)  # arrives later: o-2 is not re-sent
        driver.pipe(m.CUSTOMERS, "c-1", ADA_FR, timestamp=40)  # Ada moves: o-1 is not re-sent either
        assert enriched() == []

        driver.pipe(m.ORDERS, "o-3", order("c-9", 700), timestamp=50)
        driver.pipe(m.ORDERS, "o-4", order("c-1", 100), timestamp=60)
        assert enriched() == [("c-9", {**order("c-9", 700), "customer": BO_SE}, 50),
                              ("c-1", {**order("c-1", 100), "customer": ADA_FR}, 60)]

        driver.pipe(m.CUSTOMERS, "c-9", None, timestamp=70)  # Bo deleted: unknown again
        driver.pipe(m.ORDERS, "o-5", order("c-9", 5), timestamp=80)
        assert enriched() == [("c-9", {**order("c-9", 5), "customer": None}, 80)]


# ----------------------------------------------------------------------------- customer totals by country
def test_customer_totals_follow_order_changes_and_customers_moving() -> None:
    m = customer_totals_by_country
    with TestDriver(m.build_app()) as driver:
        def totals() -> list[tuple[str, int, int]]:
            return [(r.key, r.value, r.timestamp) for r in driver.read(m.OUTPUT)]

        driver.pipe(m.CUSTOMERS, "c-1", ADA_UK, timestamp=1)
        driver.pipe(m.CUSTOMERS, "c-2", {"name": "Bo", "country": "FR"}, timestamp=2)
        driver.pipe(m.ORDERS, "o-1", order("c-1", 1000), timestamp=10)
        driver.pipe(m.ORDERS, "o-2", order("c-2", 500), timestamp=20)
        driver.pipe(m.ORDERS, "o-3", order("c-1", 250), timestamp=30)
        driver.pipe(m.ORDERS, "o-4", order("c-3", 75), timestamp=40)  # c-3 unknown: counts nowhere yet
        driver.pipe(m.ORDERS, "o-2", order("c-2", 600), timestamp=50)  # same country: -500 +600, one update
        assert totals() == [("UK", 1000, 10), ("FR", 500, 20), ("UK", 1250, 30), ("FR", 600, 50)]

        # Ada moves to France: each of her orders (o-1, o-3) leaves the UK, then joins France
        driver.pipe(m.CUSTOMERS, "c-1", ADA_FR, timestamp=60)
        assert totals() == [("UK", 250, 60), ("FR", 1600, 60), ("UK", 0, 60), ("FR", 1850, 60)]

        driver.pipe(m.ORDERS, "o-3", None, timestamp=70)  # cancelled: -250 in France
        driver.pipe(m.CUSTOMERS, "c-3", {"name": "Cy", "country": "UK"}, timestamp=80)  # o-4 now counts
        driver.pipe(m.CUSTOMERS, "c-2", None, timestamp=90)  # Bo deleted: the inner join drops o-2
        assert totals() == [("FR", 1600, 70), ("UK", 75, 80), ("FR", 1000, 90)]

        store = driver.store("totals-by-country")
        assert (store.get("FR"), store.get("UK")) == (1000, 75)  # o-1 (1000, FR) and o-4 (75, UK)
        assert driver.store("orders-with-country").get("o-1") == {"amount": 1000, "country": "FR"}


# ----------------------------------------------------------------------------- order-payment matching
B = 100 * MINUTE  # far from 0, so no window is clamped at time 0


def payment(payment_id: str, amount: int) -> dict[str, Any]:
    return {"payment_id": payment_id, "amount": amount}


class Outputs:
    def __init__(self, driver: TestDriver) -> None:
        self.driver = driver

    def read(self, topic: str) -> list[tuple[Any, Any, int]]:
        return [(r.key, r.value, r.timestamp) for r in self.driver.read(topic)]

    def all(self) -> tuple[list[tuple[Any, Any, int]], ...]:
        m = order_payment_matching
        return self.read(m.MATCHED), self.read(m.UNPAID), self.read(m.UNMATCHED)


def test_payments_match_orders_and_the_unmatched_are_reported_when_their_window_closes() -> None:
    m = order_payment_matching
    with TestDriver(m.build_app(), initial_wall_clock_ms=0) as driver:
        out = Outputs(driver)
        o1, p1 = order("c-1", 1250), payment("p-1", 1250)
        driver.pipe(m.ORDERS, "o-1", o1, timestamp=B)
        assert out.all() == ([], [], [])
        driver.pipe(m.PAYMENTS, "o-1", p1, timestamp=B + 2 * MINUTE)  # 2 minutes after its order: a match
        assert out.all() == ([("o-1", {"order": o1, "payment": p1}, B + 2 * MINUTE)], [], [])

        o2, p3, o4, p4 = order("c-2", 300), payment("p-3", 50), order("c-4", 80), payment("p-4", 80)
        driver.pipe(m.ORDERS, "o-2", o2, timestamp=B + 3 * MINUTE)      # never paid; closes after B+9
        driver.pipe(m.PAYMENTS, "o-3", p3, timestamp=B + 4 * MINUTE)    # no such order; closes after B+10
        driver.pipe(m.ORDERS, "o-4", o4, timestamp=B + 5 * MINUTE)      # closes after B+11
        assert out.all() == ([], [], [])
        # six minutes after o-4: too far to match it.  Stream time B+11 closes o-2's and o-3's windows
        # (each record's own timestamp); o-4's closes only once stream time is past B+11
        driver.pipe(m.PAYMENTS, "o-4", p4, timestamp=B + 11 * MINUTE)
        assert out.all() == ([], [("o-2", o2, B + 3 * MINUTE)], [("o-3", p3, B + 4 * MINUTE)])

        # the streams go quiet: after 5 idle seconds stream time follows the wall clock
        driver.advance_wall_clock(10_000)  # stream time B+11 min 10 s
        assert out.all() == ([], [("o-4", o4, B + 5 * MINUTE)], [])
        driver.advance_wall_clock(5 * MINUTE)  # B+16 min 10 s: p-4's window is open until B+17
        assert out.all() == ([], [], [])
        driver.advance_wall_clock(MINUTE)
        assert out.all() == ([], [], [("o-4", p4, B + 11 * MINUTE)])


def test_late_payments_within_grace_still_match_and_every_pair_is_reported() -> None:
    m = order_payment_matching
    with TestDriver(m.build_app()) as driver:
        out = Outputs(driver)
        o5, o9, p5, p5b = order("c-5", 40), order("c-9", 90), payment("p-5", 20), payment("p-5b", 20)
        driver.pipe(m.ORDERS, "o-5", o5, timestamp=B)
        driver.pipe(m.ORDERS, "o-9", o9, timestamp=B + 5 * MINUTE + 30_000)  # stream time B+5.5 min
        # out of order, 4.5 minutes behind stream time but 1 minute after o-5: within the window, and
        # o-5's window (closing after B+6 with the grace minute) is still open
        driver.pipe(m.PAYMENTS, "o-5", p5, timestamp=B + MINUTE)
        driver.pipe(m.PAYMENTS, "o-5", p5b, timestamp=B + 2 * MINUTE)  # paid twice: two pairs
        assert out.all() == ([("o-5", {"order": o5, "payment": p5}, B + MINUTE),
                              ("o-5", {"order": o5, "payment": p5b}, B + 2 * MINUTE)], [], [])
        # stream time B+20 closes every window above: only o-9 went unpaid; both payments matched
        o10 = order("c-10", 1)
        driver.pipe(m.ORDERS, "o-10", o10, timestamp=B + 20 * MINUTE)
        assert out.all() == ([], [("o-9", o9, B + 5 * MINUTE + 30_000)], [])
