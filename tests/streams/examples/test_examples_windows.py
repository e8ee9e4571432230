"""The windowed examples on the test driver: clicks per minute, fraud detection, user sessions.

Expected outputs are worked out by hand from the examples' windows (see the comments).
"""

from __future__ import annotations

from tests.streams.examples.test_examples_driver import load

from streamlog.streams.testing import TestDriver

clicks_per_minute = load("clicks_per_minute")
fraud_detection = load("fraud_detection")
user_sessions = load("user_sessions")

MINUTE = 60_000


def test_clicks_per_minute_one_final_count_per_page_and_minute() -> None:
    with TestDriver(clicks_per_minute.build_app(), initial_wall_clock_ms=0) as driver:
        clicks = [("home", 0), ("home", 30_000), ("about", 10_000), ("home", 59_999), ("home", 61_000)]
        for page, ts in clicks:
            driver.pipe(clicks_per_minute.INPUT, page, {"user": "u"}, timestamp=ts)
        assert driver.read(clicks_per_minute.OUTPUT) == []  # minute 0 closes at 70 s (grace 10 s)
        driver.pipe(clicks_per_minute.INPUT, "home", {"user": "u"}, timestamp=71_000)
        out = [(r.key, r.value, r.timestamp) for r in driver.read(clicks_per_minute.OUTPUT)]
        assert out == [("about", {"page": "about", "start": 0, "end": MINUTE, "clicks": 1}, 10_000),
                       ("home", {"page": "home", "start": 0, "end": MINUTE, "clicks": 3}, 59_999)]
        # the clicks stop: after 5 idle seconds stream time follows the wall clock; minute 1 closes at 130 s
        driver.advance_wall_clock(58_000)  # stream time 71 s + 58 s = 129 s
        assert driver.read(clicks_per_minute.OUTPUT) == []
        driver.advance_wall_clock(1_000)
        assert [r.value for r in driver.read(clicks_per_minute.OUTPUT)] == [
            {"page": "home", "start": MINUTE, "end": 2 * MINUTE, "clicks": 2}]


def test_fraud_detection_flags_the_sixth_payment_within_ten_minutes() -> None:
    start = 10 * MINUTE
    with TestDriver(fraud_detection.build_app()) as driver:
        for i in range(6):  # card-1: six payments a minute apart; card-2: five
            driver.pipe(fraud_detection.INPUT, "card-1", {"amount": 10}, timestamp=start + i * MINUTE)
            if i < 5:
                driver.pipe(fraud_detection.INPUT, "card-2", {"amount": 10}, timestamp=start + i * MINUTE + 1)
        alerts = [(r.key, r.value) for r in driver.read(fraud_detection.OUTPUT)]
        # only the sixth payment's window [t - 10 min, t] holds six payments
        last = start + 5 * MINUTE
        assert alerts == [("card-1", {"card": "card-1", "payments": 6, "from": last - 10 * MINUTE,
                                      "to": last})]


def test_user_sessions_are_written_once_when_they_can_no_longer_grow() -> None:
    with TestDriver(user_sessions.build_app()) as driver:
        def view(user: str, minute: int, page: str) -> None:
            driver.pipe(user_sessions.INPUT, user, {"page": page}, timestamp=minute * MINUTE)

        view("alice", 0, "/home")
        view("bob", 5, "/home")
        view("alice", 10, "/cart")
        view("alice", 25, "/pay")
        assert driver.read(user_sessions.OUTPUT) == []
        view("alice", 70, "/home")  # stream time 70 min >= end + gap + grace for bob (40) and alice (60)
        out = [(r.key, r.value) for r in driver.read(user_sessions.OUTPUT)]
        assert out == [  # in order of session end: bob's ends at 5 min, alice's at 25
            ("bob", {"user": "bob", "start": 5 * MINUTE, "end": 5 * MINUTE, "views": 1, "pages": ["/home"]}),
            ("alice", {"user": "alice", "start": 0, "end": 25 * MINUTE, "views": 3,
                       "pages": ["/home", "/cart", "/pay"]}),
        ]
        view("carol", 100, "/a")
        view("carol", 132, "/c")  # 32 min later: a second session; stream time 132 closes alice's [70, 70]
        view("carol", 116, "/b")  # within 30 min of both: merges them into [100, 132]
        assert [(r.key, r.value) for r in driver.read(user_sessions.OUTPUT)] == [
            ("alice", {"user": "alice", "start": 70 * MINUTE, "end": 70 * MINUTE, "views": 1,
                       "pages": ["/home"]})]
        view("dave", 200, "/home")  # stream time 200 min >= 132 + 30 + 5
        assert [(r.key, r.value) for r in driver.read(user_sessions.OUTPUT)] == [
            ("carol", {"user": "carol", "start": 100 * MINUTE, "end": 132 * MINUTE, "views": 3,
                       "pages": ["/a", "/c", "/b"]}),  # merged in store order, then the bridging view added
        ]
