"""The shadow comparison's pure part: pairing per (correlation id, customer, kind) and naming differences."""

from __future__ import annotations

from extracted.notifications.compare import Sent, diff


def test_equal_emails_match_and_every_difference_is_named() -> None:
    same = Sent("a@example.com", "Money added to your wallet", "INR 1.00 was credited to wallet 7.")
    legacy = [(("r1", 1, "wallet.credited"), same),
              (("r2", 1, "wallet.credited"), same),
              (("r3", 2, "kyc.verified"), Sent("b@example.com", "Your KYC is verified", "ok"))]
    service = [(("r1", 1, "wallet.credited"), same),
               (("r2", 1, "wallet.credited"), Sent("a@example.com", same.subject, "INR 1 was credited.")),
               (("r4", 3, "payout.paid"), Sent("c@example.com", "Payout paid", "x"))]
    results = {r.key[0]: r for r in diff(legacy, service)}
    assert results["r1"].matches
    assert results["r2"].differences == [
        "body: monolith 'INR 1.00 was credited to wallet 7.', service 'INR 1 was credited.'"]
    assert results["r3"].differences == ["count: monolith 1, service 0"]  # the service missed one
    assert results["r4"].differences == ["count: monolith 0, service 1"]  # the service invented one


def test_several_emails_under_one_key_are_compared_in_a_stable_order() -> None:
    one, two = Sent("a@example.com", "s", "1"), Sent("a@example.com", "s", "2")
    key = ("r", 1, "k")
    [result] = diff([(key, one), (key, two)], [(key, two), (key, one)])
    assert result.matches
