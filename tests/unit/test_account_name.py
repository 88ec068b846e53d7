"""The journal's name for a session's account (runtime/account_name.py): tells accounts apart, keeps no secret."""

from __future__ import annotations

from quantum_trader.runtime.account_name import exchange_account_name, paper_account_name

KEY_A = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
KEY_B = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


def test_a_url_account_is_the_url_without_credentials_and_a_key_fingerprint() -> None:
    name = exchange_account_name("https://user:pw@fapi.binance.com/fapi/v1?x=1", KEY_A)
    assert name.startswith("https://fapi.binance.com key sha256:") and len(name.rpartition(":")[2]) == 12
    assert KEY_A not in name and KEY_A[:12] not in name and "pw" not in name
    assert name != exchange_account_name("https://fapi.binance.com", KEY_B)  # another key, another account
    assert name == exchange_account_name("https://fapi.binance.com", KEY_A)  # the same key, the same account
    assert exchange_account_name("http://127.0.0.1:8001/", None) == "http://127.0.0.1:8001"


def test_one_exchange_spelled_two_ways_is_one_account() -> None:
    """A tester restarted with `localhost` instead of `127.0.0.1` and the losing day got a fresh allowance."""
    spellings = ("http://localhost:18110", "HTTP://127.0.0.1:18110/", "http://[::1]:18110")
    assert len({exchange_account_name(url, KEY_A) for url in spellings}) == 1
    binance = ("https://fapi.binance.com:443", "https://FAPI.binance.com")
    assert len({exchange_account_name(url, KEY_A) for url in binance}) == 1
    ports = ("http://127.0.0.1:18110", "http://127.0.0.1:18111")
    assert len({exchange_account_name(url, KEY_A) for url in ports}) == 2


def test_a_paper_account_is_named_by_its_id() -> None:
    assert paper_account_name("0123abcd") == "paper account 0123abcd"
