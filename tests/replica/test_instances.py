"""Two app instances (two processes) sharing one Redis and one secret key: a limit of N per minute
admits exactly N across both, and a web sign-in made on one is a session on the other."""

from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from landdb import users

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url():
    """Debian's redis-server on a free port, nothing kept on disk."""
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None, "redis-server did not start"
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def start_instances(n: int, env: dict) -> list[tuple[subprocess.Popen, str]]:
    procs = [subprocess.Popen([sys.executable, "-m", "tests.replica.instance"], cwd=ROOT, env={**os.environ, **env},
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for _ in range(n)]
    return [(p, f"http://127.0.0.1:{p.stdout.readline().strip()}") for p in procs]


def get(url: str, headers: dict | None = None) -> tuple[int, dict, str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers, err.read().decode()


def rejections(metrics_text: str) -> dict[str, float]:
    return {s.labels["limit"]: s.value for f in text_string_to_metric_families(metrics_text)
            for s in f.samples if s.name == "landdb_rate_limit_rejections_total"}


def test_two_instances_sharing_redis_admit_exactly_the_limit(pair, redis_url):
    env = {"DATABASE_URL": pair.primary_url, "READ_DATABASE_URL": pair.replica_url,
           "LANDDB_RATELIMIT_STORAGE_URI": redis_url, "LANDDB_RATE_LIMIT_PUBLIC": "5/minute",
           "LANDDB_RATE_LIMIT": "4/minute", "LANDDB_ACCESS_LOG": "0"}
    instances = start_instances(2, env)
    try:
        bases = [base for _, base in instances]
        for base in bases:  # both up; /healthz is not counted
            assert get(f"{base}/healthz")[0] == 200
        public = [get(f"{bases[i % 2]}/api/v1/journal/head")[0] for i in range(12)]
        assert public.count(200) == 5 and public.count(429) == 7, public
        assert public[:5] == [200] * 5
        # Per key too, whichever instance is asked.
        auth = {"Authorization": f"Bearer {pair.officer_key}"}
        keyed = [get(f"{bases[(i + 1) % 2]}/api/v1/journal/head", auth) for i in range(8)]
        assert [s for s, _, _ in keyed].count(200) == 4, [s for s, _, _ in keyed]
        refused = next(h for s, h, _ in keyed if s == 429)
        assert int(refused["Retry-After"]) > 0
        # Each instance counted the refusals it made: 7 by address, 4 by key, split between them.
        counted = [rejections(get(f"{base}/metrics")[2]) for base in bases]
        assert sum(c.get("addr", 0) for c in counted) == 7
        assert sum(c.get("key", 0) for c in counted) == 4
        assert all(c.get("addr", 0) > 0 for c in counted)
    finally:
        for proc, _ in instances:
            proc.terminate()
            proc.wait(10)
            proc.stdout.close()


def test_a_web_sign_in_on_one_instance_is_a_session_on_the_other(pair, redis_url):
    engine = create_engine(pair.primary_url)
    with Session(engine) as session, session.begin():
        users.create_user(session, "replica-officer", "officer", "correct horse battery", "Trần Văn Nhân")
    engine.dispose()
    pair.wait_until_replayed()  # the instances read the account from the replica
    env = {"DATABASE_URL": pair.primary_url, "READ_DATABASE_URL": pair.replica_url,
           "LANDDB_RATELIMIT_STORAGE_URI": redis_url, "LANDDB_SECRET_KEY": "shared-by-both-instances",
           "LANDDB_ACCESS_LOG": "0"}
    instances = start_instances(2, env)
    try:
        (_, a), (_, b) = instances
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with browser.open(f"{a}/sign-in", timeout=30) as resp:
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', resp.read().decode()).group(1)
        form = urllib.parse.urlencode({"username": "replica-officer", "password": "correct horse battery",
                                       "csrf_token": csrf}).encode()
        with browser.open(f"{a}/sign-in", data=form, timeout=30) as resp:
            assert "Trần Văn Nhân" in resp.read().decode()  # signed in, on A
        with browser.open(f"{b}/", timeout=30) as resp:
            assert "Trần Văn Nhân" in resp.read().decode()  # the same session, on B
        stranger = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with stranger.open(f"{b}/", timeout=30) as resp:
            assert "Trần Văn Nhân" not in resp.read().decode()
    finally:
        for proc, _ in instances:
            proc.terminate()
            proc.wait(10)
            proc.stdout.close()
