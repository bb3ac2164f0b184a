"""Faults and abuse against a real `helpdesk serve`: a small run of each attack of bench/attacks.py.

- kill -9 of the server on one SQLite data dir (3 cycles), clients retrying with the same
  client_message_id: nothing acknowledged is lost, nothing is stored twice;
- claim / reply / resolve of 8 handoffs raced by 3 spawned OS processes, each its own agent: one
  claim winner, the same-id reply once, one ticket and one answer, other agents refused;
- small rate limits: a flooding address gets 429 (Retry-After, the one error shape) while a second
  address (X-Forwarded-For from the trusted proxy 127.0.0.1) is served; the handoff, per-account and
  per-address sign-in limits.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.attacks import AttackServer, attack_server, run_double_sends, run_durability, run_limits, run_races
from tests.support import FAQ, seed_state


def test_kill9_cycles_lose_and_duplicate_nothing(tmp_path: Path, shipped_index: Path) -> None:
    data, faq = tmp_path / "state", tmp_path / "faq"
    data.mkdir()
    seed_state(data, shipped_index)
    shutil.copytree(FAQ, faq)
    d = run_durability(data, faq, cycles=3, clients=3, seconds_per_cycle=2.5)
    print(d.markdown())
    assert d.acknowledged > 0
    assert d.lost == 0, d.lost_samples
    assert d.duplicated == 0
    assert d.client_ids_twice == 0
    assert d.answered_twice == 0
    assert d.unacknowledged == 0
    assert d.refused == 0, d.samples
    assert d.errors.get("5xx", 0) == 0, d.samples


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, shipped_index: Path) -> Iterator[AttackServer]:
    """One server for races and limits: small limits, 3 agents with tokens, sign-in accounts."""
    with attack_server(tmp_path_factory.mktemp("attacks"), shipped_index.parent, processes=3, known=5) as s:
        yield s


def test_races_from_separate_processes(server: AttackServer) -> None:
    r = run_races(server.base, server.agent_tokens, server.data_dir, handoffs=8, double_starts=0)
    print(r.markdown())
    assert Counter(r.winners_per_handoff.values()) == {1: 8}, r.claim_other
    assert r.claim_losers_409 == 8 * 2
    assert r.reply_both_200_same_id == 8, r.samples
    assert r.duplicate_replies == r.missing_replies == 0
    assert r.resolve_both_200_same_ticket == 8, r.samples
    assert r.duplicate_tickets == r.missing_tickets == 0
    assert r.duplicate_answers == r.missing_answers == 0
    assert r.wrong_resolution == 0
    assert r.wrong_agent_writes == 0 and r.wrong_agent_refused == 8 * 2  # 3 processes: a foreign reply and resolve
    assert r.server_errors == 0, r.samples
    assert r.too_many == 0


def test_a_conversation_start_sent_from_processes_at_once_is_answered_once(server: AttackServer) -> None:
    r = run_double_sends(server.base, server.agent_tokens, server.data_dir, n=12)
    print(r.double_markdown(), r.double_start_failures)
    assert r.double_start_stored_once == 12
    assert r.server_errors == 0
    assert r.double_start_all_200 == 12, r.double_start_failures
    assert r.double_start_orphans == 0


def test_rate_limits_per_address_and_account(server: AttackServer) -> None:
    lim = run_limits(
        server.base,
        server.limits,
        server.victim,
        server.other,
        server.known,
        flood=30,
        second=5,
        wrong_passwords=12,
        handoffs=4,
        ip_attempts=12,
        data_dir=server.data_dir,
    )
    print(lim.markdown())
    # the flood is refused in the one error shape with Retry-After; the other address is not
    assert lim.flood_ok(), (lim.flood_outcomes, lim.flood_other, lim.second_outcomes)
    assert lim.second_accepted == lim.second_requests == 5
    assert lim.handoff_statuses == [200, 200, 200, 429]
    # wrong passwords for one account from 12 addresses: each address is under its own per-account
    # limit (5), the account-wide one (8) trips; per address (any username) after 10
    assert (lim.lockout_401, lim.lockout_first_429_at, lim.lockout_bad_shape) == (8, 9, 0)
    assert lim.other_account_status == 200
    assert lim.ip_first_429_at == 11
    assert lim.ip_other_address_status == 200
    assert lim.server_errors == 0, lim.samples
