"""SSRF: a URL job never reaches the private network, however the address is spelled or reached.

Unit tests check the policy and the resolver with injected DNS answers; the stack tests run
the real API and workers with private addresses forbidden. A page server on 127.0.0.1 plays
the private network and counts its requests: every test here asserts it got none. A second
server on 127.0.0.2, allowed by READOUT_FETCH_ALLOW_NETWORKS=127.0.0.2/32, plays a public
site; it is reached (a positive control), and its redirects into the private network are not.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.config import Settings, load_settings
from shared.fetch import FetchError, check_url, fetch_article
from shared.fetch.policy import AddressPolicy, literal_ip
from shared.fetch.safe_http import CheckedResolver
from tests.conftest import RedisServer, free_port
from tests.page_server import PageServer
from tests.stack import Stack

FORBIDDEN = Settings()  # the default: private addresses refused
# Hosts that all name a forbidden address: every range, in every spelling the resolver would accept.
FORBIDDEN_HOSTS = [
    # loopback 127.0.0.0/8
    "127.0.0.1", "127.1", "127.0.1", "2130706433", "0x7f000001", "0X7F000001", "0177.0.0.1", "0x7f.0.0.1",
    "0177.1", "127.0.0.1.", "127.255.255.254", "017700000001",
    # RFC 1918, carrier-grade NAT, this-network, link-local and the cloud metadata address
    "10.0.0.1", "012.0.0.1", "167772161", "0xa000001", "172.16.0.1", "172.31.255.255", "2886729729",
    "192.168.1.1", "0xc0a80101", "3232235777", "100.64.0.1", "100.127.255.254", "0.0.0.0", "0", "0.1.2.3",
    "169.254.169.254", "0xa9fea9fe", "2852039166", "169.254.0.1",
    # multicast, reserved, broadcast, documentation, benchmarking
    "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1", "192.0.0.8",
    # IPv6: loopback, unspecified, unique local (AWS metadata fd00:ec2::254), link-local, multicast
    "[::1]", "[0:0:0:0:0:0:0:1]", "[::]", "[fc00::1]", "[fd00:ec2::254]", "[fe80::1]", "[febf::1]", "[ff02::1]",
    # IPv4-mapped, IPv4-compatible, 6to4 and NAT64 forms of forbidden IPv4 addresses
    "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:127.0.0.1]", "[::ffff:10.0.0.1]",
    "[::ffff:169.254.169.254]", "[::ffff:192.168.0.1]", "[::127.0.0.1]", "[::a9fe:a9fe]",
    "[2002:7f00:1::]", "[2002:a9fe:a9fe::1]", "[2002:c0a8:101::]", "[64:ff9b::127.0.0.1]", "[64:ff9b::a9fe:a9fe]",
    "[64:ff9b:1::a00:1]", "[::ffff:0:127.0.0.1]",
]
PUBLIC_HOSTS = ["93.184.216.34", "1572395042", "[2606:4700:4700::1111]", "[::ffff:93.184.216.34]",
                "[2002:5db8:d822::1]", "example.com", "news.example.org."]


@pytest.mark.parametrize("host", FORBIDDEN_HOSTS)
def test_literal_forbidden_addresses_are_refused_in_every_spelling(host: str) -> None:
    with pytest.raises(FetchError) as caught:
        check_url(f"http://{host}:8080/article", FORBIDDEN)
    assert caught.value.code == "url_forbidden", caught.value.message


@pytest.mark.parametrize("host", PUBLIC_HOSTS)
def test_public_addresses_and_names_pass_the_submit_check(host: str) -> None:
    assert check_url(f"https://{host}/article", FORBIDDEN).startswith("https://")


@pytest.mark.parametrize(("spelled", "address"), [
    ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"), ("127.1", "127.0.0.1"),
    ("10.1", "10.0.0.1"), ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"), ("::ffff:7f00:1", "::ffff:7f00:1"),
])
def test_literal_ips_are_normalised_like_the_resolver_does(spelled: str, address: str) -> None:
    assert literal_ip(spelled) == ipaddress.ip_address(address)
    if ":" not in spelled:
        assert socket.inet_aton(spelled) == ipaddress.ip_address(address).packed  # what connect() would reach


def test_allow_private_lifts_the_policy_and_allowed_networks_open_only_themselves() -> None:
    assert check_url("http://127.0.0.1:8080/", replace(FORBIDDEN, fetch_allow_private=True))
    policy = AddressPolicy.from_settings(load_settings({"READOUT_FETCH_ALLOW_NETWORKS": "10.1.2.0/24"}))
    assert policy.permits(ipaddress.ip_address("10.1.2.3"))
    assert policy.permits(ipaddress.ip_address("::ffff:10.1.2.3"))
    assert not policy.permits(ipaddress.ip_address("10.1.3.1"))
    assert not policy.permits(ipaddress.ip_address("127.0.0.1"))
    with pytest.raises(ValueError, match="READOUT_FETCH_ALLOW_NETWORKS"):
        load_settings({"READOUT_FETCH_ALLOW_NETWORKS": "10.1.2.0/33"})


# --- the resolver, with injected DNS answers ------------------------------------------------
class FakeDns(AbstractResolver):
    """Answers from a script: the n-th lookup of a name gets answers[name][min(n, last)]."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        script = self.answers[host]
        ips = script[min(self.lookups.count(host), len(script) - 1)]
        self.lookups.append(host)
        return [{"hostname": host, "host": ip, "port": port, "family": socket.AF_INET6 if ":" in ip else socket.AF_INET,
                 "proto": 0, "flags": 0} for ip in ips]

    async def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def private_site() -> Iterator[PageServer]:
    """127.0.0.1: the private network. No test may reach it."""
    server = PageServer("127.0.0.1").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def public_site() -> Iterator[PageServer]:
    """127.0.0.2, which these tests treat as public (READOUT_FETCH_ALLOW_NETWORKS=127.0.0.2/32)."""
    server = PageServer("127.0.0.2").start()
    yield server
    server.stop()


@pytest.fixture
def untouched(private_site: PageServer) -> Iterator[PageServer]:
    before = len(private_site.requests)
    yield private_site
    assert private_site.requests[before:] == [], "a forbidden address was reached"


PUBLIC_ONLY = replace(FORBIDDEN, fetch_allow_networks=("127.0.0.2/32",), fetch_timeout_s=5.0)


@pytest.mark.parametrize("answer", [["127.0.0.1"], ["10.0.0.7"], ["169.254.169.254"], ["::1"], ["::ffff:127.0.0.1"],
                                    ["fe80::1%2"], ["93.184.216.34", "127.0.0.1"], ["127.0.0.2", "192.168.0.1"]])
async def test_a_name_resolving_to_a_forbidden_address_is_refused(untouched: PageServer, answer: list[str]) -> None:
    dns = FakeDns({"news.example": [answer]})
    with pytest.raises(FetchError) as caught:
        await fetch_article(f"http://news.example:{untouched.port}/pages/lighthouse.html", PUBLIC_ONLY, resolver=dns)
    # url_forbidden, not fetch_failed: refused before any connection (93.184.216.34 is unreachable offline)
    assert caught.value.code == "url_forbidden", caught.value.message
    assert "news.example" in caught.value.message


async def test_the_connection_goes_to_the_checked_address_with_no_second_lookup(
        untouched: PageServer, public_site: PageServer) -> None:
    """DNS rebinding: the name answers the public address once, then the private one."""
    dns = FakeDns({"news.example": [["127.0.0.2"], ["127.0.0.1"]]})
    before = len(public_site.requests)
    article = await fetch_article(f"http://news.example:{public_site.port}/pages/lighthouse.html", PUBLIC_ONLY, resolver=dns)
    assert article.title == "The Last Keeper of Skerry Light"
    assert dns.lookups == ["news.example"]  # "news.example" does not exist offline: only our answer could connect
    assert public_site.requests[before][1]["Host"] == f"news.example:{public_site.port}"  # the name, not the IP
    # a redirect to the same name is a new hop: looked up again, and now refused
    with pytest.raises(FetchError) as caught:
        await fetch_article(f"http://news.example:{public_site.port}/to?location=/pages/cafe.html", PUBLIC_ONLY, resolver=dns)
    assert caught.value.code == "url_forbidden"


async def test_the_system_resolver_is_checked_too() -> None:
    with pytest.raises(OSError, match="localhost resolves to"):
        await CheckedResolver(AddressPolicy()).resolve("localhost", 80)


# --- through the real stack, private addresses forbidden ------------------------------------
@pytest.fixture(scope="module")
def stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(redis_server.url, free_port(), tmp_path_factory.mktemp("logs"), env={
        "READOUT_FAKE_ENGINE": "1", "READOUT_DEFAULT_ENGINE": "fake", "READOUT_FAKE_LATENCY_MS": "20",
        "READOUT_FETCH_ALLOW_NETWORKS": "127.0.0.2/32", "READOUT_FETCH_TIMEOUT": "10",
    })
    s.start(workers=1)
    yield s
    s.stop()


async def submit(http: aiohttp.ClientSession, stack: Stack, url: str) -> tuple[int, dict]:
    async with http.post(f"{stack.url}/v1/jobs", json={"url": url}) as resp:
        return resp.status, await resp.json()


async def final_status(http: aiohttp.ClientSession, stack: Stack, job_id: str, timeout: float = 60) -> dict:
    """Bounded poll of the job's status until it is terminal."""
    deadline = time.monotonic() + timeout
    while True:
        async with http.get(f"{stack.url}/v1/jobs/{job_id}") as resp:
            body = await resp.json()
        if body["status"] in ("done", "failed", "cancelled") or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.05)  # poll interval


@pytest.mark.slow
@pytest.mark.parametrize("host", FORBIDDEN_HOSTS)
async def test_submit_refuses_literal_forbidden_addresses_with_422(stack: Stack, http, untouched: PageServer, host: str) -> None:
    status, body = await submit(http, stack, f"http://{host}:{untouched.port}/pages/lighthouse.html")
    assert status == 422, body
    assert body["error"]["code"] == "url_forbidden"


@pytest.mark.slow
async def test_a_public_page_is_read_positive_control(stack: Stack, http, public_site: PageServer, untouched) -> None:
    status, job = await submit(http, stack, f"{public_site.base}/pages/lighthouse.html")
    assert status == 202 and job["status"] == "queued", job
    final = await final_status(http, stack, job["id"])
    assert final["status"] == "done", final
    assert final["title"] == "The Last Keeper of Skerry Light" and final["author"] == "Morag Lindqvist"
    assert final["source_url"] == f"{public_site.base}/pages/lighthouse.html"
    async with http.get(stack.url + final["audio_url"]) as resp:
        assert resp.status == 200 and len(await resp.read()) > 10_000


@pytest.mark.slow
async def test_a_name_resolving_to_loopback_fails_url_forbidden(stack: Stack, http, untouched: PageServer) -> None:
    status, job = await submit(http, stack, f"http://localhost:{untouched.port}/pages/lighthouse.html")
    assert status == 202, job  # a name is only resolved by the worker
    final = await final_status(http, stack, job["id"])
    assert final["status"] == "failed" and final["error"]["code"] == "url_forbidden", final
    assert "localhost resolves to" in final["error"]["message"]


def redirect_to(site: PageServer, location: str) -> str:
    return f"{site.base}/to?location={quote(location, safe='')}"


@pytest.mark.slow
@pytest.mark.parametrize("target", [
    "http://127.0.0.1:{port}/pages/lighthouse.html", "http://2130706433:{port}/pages/lighthouse.html",
    "http://0x7f000001:{port}/", "http://0177.0.0.1:{port}/", "http://127.1:{port}/", "http://[::ffff:127.0.0.1]:{port}/",
    "http://localhost:{port}/pages/lighthouse.html", "http://169.254.169.254/latest/meta-data/", "http://[::1]:{port}/",
    "file:///etc/passwd", "gopher://127.0.0.1:{port}/",
])
async def test_a_public_redirect_into_the_private_network_fails_url_forbidden(
        stack: Stack, http, public_site: PageServer, untouched: PageServer, target: str) -> None:
    before = len(public_site.requests)
    status, job = await submit(http, stack, redirect_to(public_site, target.format(port=untouched.port)))
    assert status == 202, job
    final = await final_status(http, stack, job["id"])
    assert final["status"] == "failed" and final["error"]["code"] == "url_forbidden", final
    assert len(public_site.requests) == before + 1  # the public hop was fetched; the private one never


@pytest.mark.slow
async def test_a_later_hop_into_the_private_network_fails_url_forbidden(
        stack: Stack, http, public_site: PageServer, untouched: PageServer) -> None:
    private = f"http://127.0.0.1:{untouched.port}/pages/lighthouse.html"
    chain = redirect_to(public_site, redirect_to(public_site, redirect_to(public_site, private)))
    before = len(public_site.requests)
    status, job = await submit(http, stack, chain)
    assert status == 202, job
    final = await final_status(http, stack, job["id"])
    assert final["status"] == "failed" and final["error"]["code"] == "url_forbidden", final
    assert len(public_site.requests) == before + 3


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.builds("http://{}".format, st.text(alphabet=st.sampled_from(list(
    "htps:/[]@%.0123456789abcdefx-_?#&=\\ \t\u00e9\u4e2d\x00~!$'()*+,;"))))))
def test_any_string_is_a_checked_url_or_a_clear_refusal(raw: str) -> None:
    try:
        checked = check_url(raw, FORBIDDEN)
    except FetchError as exc:
        assert exc.code in ("url_invalid", "url_forbidden") and exc.message
    else:
        assert checked.split(":", 1)[0] in ("http", "https")
