"""Benchmark: signed order round trips through unmodified ccxt against `quantum-trader sim-server` on loopback.

The server runs as its own process (as in use), the client is ccxt's synchronous binanceusdm with its
rate limiter off. Each round trip is one signed `create_order` (MARKET, newOrderRespType=RESULT as ccxt
sends it) answered with the filled order. Prints p50 / p99 latency and orders per second.

    .venv/bin/python bench/sim_server.py [--orders 2000] [--port 8097]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ccxt
import httpx

KEY, SECRET = "bench-key", "bench-secret"


def start_server(port: int) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("quantum-trader")
    proc = subprocess.Popen([str(exe), "sim-server", "--port", str(port), "--symbols", "BNBUSDT,BTCUSDT",
                             "--balance", "1000000", "--api-key", KEY, "--api-secret", SECRET,
                             "--weight-limit", "10000000", "--order-limit-10s", "10000000",
                             "--order-limit-1m", "10000000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{url}/fapi/v1/ping", timeout=0.5).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("sim-server did not start")


def client(url: str) -> ccxt.binanceusdm:
    ex = ccxt.binanceusdm({"apiKey": KEY, "secret": SECRET, "enableRateLimit": False,
                           "options": {"fetchCurrencies": False}})
    for name, value in ex.urls["api"].items():
        if isinstance(value, str):
            ex.urls["api"][name] = value.replace("https://fapi.binance.com", url)
    return ex


def throughput(url: str, orders: int, clients: int) -> None:
    """Several unmodified ccxt clients at once (threads, each its own connection): orders per second served."""
    exchanges = [client(url) for _ in range(clients)]
    for ex in exchanges:
        ex.load_markets()

    def burst(ex: ccxt.binanceusdm) -> None:
        for i in range(orders // clients):
            ex.create_order("BNB/USDT:USDT", "market", "buy" if i % 2 == 0 else "sell", 0.01)

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(burst, exchanges))
    elapsed = time.perf_counter() - start
    total = orders // clients * clients
    print(f"{total} orders from {clients} concurrent ccxt clients: {total / elapsed:,.0f} orders/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--port", type=int, default=8097)
    parser.add_argument("--clients", type=int, default=4, help="concurrent ccxt clients for the throughput run")
    args = parser.parse_args()
    proc = start_server(args.port)
    try:
        url = f"http://127.0.0.1:{args.port}"
        httpx.post(f"{url}/sim/v1/prices", json={"BNBUSDT": "600"}, headers={"X-MBX-APIKEY": KEY})
        ex = client(url)
        ex.load_markets()
        for _ in range(50):  # warm up connections and code paths
            ex.create_order("BNB/USDT:USDT", "market", "buy", 0.01)
            ex.create_order("BNB/USDT:USDT", "market", "sell", 0.01)
        latencies: list[float] = []
        start = time.perf_counter()
        for i in range(args.orders):
            tick = time.perf_counter()
            ex.create_order("BNB/USDT:USDT", "market", "buy" if i % 2 == 0 else "sell", 0.01)
            latencies.append((time.perf_counter() - tick) * 1000)
        elapsed = time.perf_counter() - start
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        print(f"{args.orders} signed ccxt create_order round trips: p50 {statistics.median(latencies):.2f} ms, "
              f"p99 {p99:.2f} ms, {args.orders / elapsed:,.0f} orders/s (one client, sequential)")
        throughput(url, args.orders, args.clients)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
