"""The hardening promises of docs/contract.md, attacked over real sockets: hosts not served,
bodies that trickle in, export readers that stop reading, forwarded headers, security headers."""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from deploy import SHUTDOWN_TIMEOUT, Deployment

import harness
from harness import Server

pytestmark = pytest.mark.contract

PROBE_TIMEOUT = 5  # seconds: an answer, not a measurement (the figures are in the note)


def probe(service: Server, path: str) -> httpx.Response:
    return httpx.get(f"{service.url}{path}", timeout=PROBE_TIMEOUT, trust_env=False)


@contextlib.contextmanager
def started(deployment: Deployment, **settings: str) -> Iterator[Server]:
    service = deployment.service(f"hardening-{uuid.uuid4().hex[:6]}", **settings).start()
    try:
        yield service
    finally:
        assert service.stop(SHUTDOWN_TIMEOUT + 10) == 0
        service.records()  # every line it wrote was JSON


def connect(service: Server, request: bytes, receive_buffer: int | None = None) -> socket.socket:
    sock = socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.connect(("127.0.0.1", int(service.url.rsplit(":", 1)[1])))
    sock.sendall(request)
    return sock


def read_response(sock: socket.socket, timeout: float) -> bytes:
    """One whole response: its head, then the `Content-Length` bytes of its body."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length: *(\d+)", head)
    while length and len(body) < int(length.group(1)) and (chunk := sock.recv(65536)):
        body += chunk
    return head + b"\r\n\r\n" + body


def assert_answers_in_a_second(service: Server, *paths: str, within: float = 1.0) -> None:
    """Each path answers 200 within a second (about 0.1 s here, two busy cores)."""
    for path in paths:
        begun = time.monotonic()
        assert probe(service, path).status_code == 200, path
        assert time.monotonic() - begun < within, path


def first_bytes(sock: socket.socket) -> bytes:
    """The status line's start, without draining what follows."""
    sock.settimeout(PROBE_TIMEOUT)
    return sock.recv(12)


def test_a_host_not_served_is_400_but_health_answers_any(http: httpx.Client) -> None:
    refused = http.get("/api/v1/items", headers={"Host": "evil.example"})
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == "The Host header names a host this service does not serve."
    assert refused.json()["request_id"] == refused.headers["x-request-id"]
    assert http.get("/health/ready", headers={"Host": "10.1.2.3:8000"}).status_code == 200


def test_every_response_carries_the_security_headers(http: httpx.Client) -> None:
    for response in (http.get("/health/live"), http.get("/api/v1/items/0")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"
        assert "strict-transport-security" not in response.headers  # plain HTTP
        # Data: nothing in it may load or run, nor may any page frame it.
        policy = response.headers["content-security-policy"]
        assert policy == "default-src 'none'; frame-ancestors 'none'"


def allowed_sources(policy: str, directive: str) -> list[str]:
    """The sources a Content-Security-Policy allows for `directive` (or its default-src)."""
    directives = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives.get(directive, directives.get("default-src", []))


def test_the_docs_page_may_load_what_it_references(http: httpx.Client) -> None:
    """The docs page's policy allows every script and stylesheet its HTML loads, and its
    inline script; data responses allow none of it."""
    page = http.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    html = page.text
    for directive, pattern in (
        ("script-src", r"<script[^>]*\bsrc=[\"']([^\"']+)"),
        ("style-src", r"<link[^>]*\bhref=[\"']([^\"']+\.css[^\"']*)"),
    ):
        sources = allowed_sources(policy, directive)
        for url in re.findall(pattern, html):
            origin = re.match(r"https?://[^/]+", url)
            assert (origin.group(0) if origin else "'self'") in sources, (url, policy)
    if re.search(r"<script(?![^>]*\bsrc=)[^>]*>\s*\S", html):  # an inline script runs
        assert "'unsafe-inline'" in allowed_sources(policy, "script-src")


def test_docs_schema_and_admin_are_where_production_wants_them(deployment: Deployment) -> None:
    """DOCS_ENABLED=false hides the docs and the schema; Django's admin moves to ADMIN_PATH."""
    settings = {"docs_enabled": "false", "admin_path": "/back-office", "workers": "1"}
    with started(deployment, **settings) as service:
        for path in ("/docs", "/redoc", "/openapi.json"):
            response = probe(service, path)
            assert response.status_code == 404, path
            assert response.headers["content-type"] == "application/problem+json"
        assert probe(service, "/health/live").status_code == 200
        if deployment.variant.framework == "django":
            assert probe(service, "/admin/").status_code == 404
            moved = probe(service, "/back-office/")
            assert moved.status_code == 302
            assert moved.headers["location"] == "/back-office/login/?next=/back-office/"
            login = probe(service, "/back-office/login/")
            assert login.status_code == 200
            assert login.headers["content-security-policy"].startswith("default-src 'self';")


def test_forwarded_headers_are_believed_from_trusted_proxies_only(
    deployment: Deployment,
) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    for trusted, hsts, client in (("127.0.0.1", True, "203.0.113.7"), ("", False, "127.0.0.1")):
        with started(deployment, trusted_proxies=trusted, workers="1") as service:
            request_id = f"proxy-{uuid.uuid4().hex[:8]}"
            response = httpx.get(
                f"{service.url}/health/live",
                headers={**forwarded, "X-Request-ID": request_id},
                trust_env=False,
            )
            assert ("strict-transport-security" in response.headers) is hsts
            service.wait_for_output(request_id)  # the access line follows the response
            [line] = [r for r in service.records() if r.get("request_id") == request_id]
            assert line["client"] == client


def test_slow_clients_are_cut_off_and_the_service_answers_meanwhile(
    deployment: Deployment,
) -> None:
    """200 stalled connections, half in their headers and half in their bodies: health and
    reads answer meanwhile; the bodies get 408, the headers are cut at HEADER_TIMEOUT."""
    stalled_body = (
        b"POST /api/v1/items HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{"
    )
    stalled_headers = b"GET /api/v1/items HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    settings = {"body_timeout": "3", "header_timeout": "3", "workers": "1"}
    with started(deployment, **settings) as service:
        bodies = [connect(service, stalled_body) for _ in range(100)]
        headers = [connect(service, stalled_headers) for _ in range(100)]
        try:
            assert_answers_in_a_second(service, "/health/live", "/api/v1/items?limit=1")
            answers = [read_response(sock, timeout=15) for sock in bodies]
            cut = [read_response(sock, timeout=15) for sock in headers]
        finally:
            for sock in bodies + headers:
                sock.close()
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers), answers[0][:200]
    assert all(b"connection: close" in answer.lower() for answer in answers)
    assert all(b'"The request body did not arrive in time."' in answer for answer in answers)
    assert cut == [b""] * len(headers)  # closed by the server, without a response


def test_an_idle_kept_alive_connection_is_closed(deployment: Deployment) -> None:
    with started(deployment, header_timeout="1", workers="1") as service:
        sock = connect(service, b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        with sock:
            assert read_response(sock, timeout=PROBE_TIMEOUT).startswith(b"HTTP/1.1 200 ")
            begun = time.monotonic()
            assert read_response(sock, timeout=10) == b""  # closed, idle
            assert time.monotonic() - begun < 5


def test_stalled_export_readers_cannot_starve_the_service(deployment: Deployment) -> None:
    if len(deployment.database.item_ids()) < 20_000:  # rows enough to fill the socket buffers
        tag = uuid.uuid4().hex[:8]
        deployment.database.seed_items(1, 20_000, name=f"stall-{tag}-", description="x" * 200)
    export = b"GET /api/v1/items/export HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with started(deployment, send_timeout="4", export_concurrency="4", workers="1") as service:
        readers = [connect(service, export, receive_buffer=4096) for _ in range(16)]
        try:
            time.sleep(1)  # the first four fill their buffers and stall; the others are refused
            # Starved, the probes would wait for SEND_TIMEOUT (4 s). Meanwhile the four streams
            # still encode the megabytes their socket buffers take: with another test worker
            # on the second core, 1.3 s was seen (0.05 s on an idle machine).
            assert_answers_in_a_second(
                service, "/health/ready", "/api/v1/items?limit=1", within=2.5
            )
            heads = [first_bytes(sock) for sock in readers]
            assert heads.count(b"HTTP/1.1 503") == 12, heads
            assert heads.count(b"HTTP/1.1 200") == 4, heads
            # Once their sends have waited SEND_TIMEOUT, the stalled four are dropped, and their
            # cursors, transactions and connections are back.
            service.wait_for_output('"client_stopped_reading"', count=4, timeout=60)
            assert deployment.database.idle_transactions() == 0
            full = httpx.get(f"{service.url}/api/v1/items/export", timeout=120, trust_env=False)
            assert full.status_code == 200
        finally:
            for sock in readers:
                sock.close()
        dropped = [r for r in service.records() if r["event"] == "client_stopped_reading"]
        assert len(dropped) == 4  # and no other client was


def refusal(deployment: Deployment, **settings: str | None) -> str:
    """What `serve` says when it must not start with these settings (None: unset): one line
    on stderr, exit status 2, and no worker started."""
    env = dict(deployment.env)
    for name, value in settings.items():
        env.pop(f"MY_SERVICE_{name.upper()}", None)
        if value is not None:
            env[f"MY_SERVICE_{name.upper()}"] = value
    result = subprocess.run(
        [deployment.project.bin("my-service"), "serve"],
        cwd=deployment.project.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    [line] = result.stderr.splitlines()  # no traceback
    return line


def test_bad_settings_are_refused_in_one_line(deployment: Deployment) -> None:
    line = refusal(deployment, workers="0", body_timeout="soon")
    assert "MY_SERVICE_WORKERS: Input should be greater than or equal to 1" in line
    assert "MY_SERVICE_BODY_TIMEOUT" in line
    assert "MY_SERVICE_DATABASE_URL" in refusal(deployment, database_url="nosuch://db")


def test_production_refuses_the_development_secret_key(
    deployment: Deployment, tmp_path_factory: pytest.TempPathFactory
) -> None:
    if deployment.variant.framework != "django":
        pytest.skip("FastAPI services have no secret key yet")
    # The project's .env holds a development key (and DEBUG=true); DEBUG off refuses it.
    assert (deployment.project.path / ".env").read_text().count("MY_SERVICE_SECRET_KEY=") == 1
    line = refusal(deployment, debug="false", secret_key=None)
    assert "the key in .env is for development" in line
    missing = tmp_path_factory.mktemp("secrets") / "secret_key"
    assert "cannot read" in refusal(deployment, secret_key=None, secret_key_file=str(missing))

    # A secrets file is a production key: the service starts and answers.
    missing.write_text(uuid.uuid4().hex * 2 + "\n")
    env = {k: v for k, v in deployment.env.items() if k != "MY_SERVICE_SECRET_KEY"}
    env["MY_SERVICE_SECRET_KEY_FILE"] = str(missing)
    with harness.serve(deployment.project, env, deployment.logs / "secret-file.log") as service:
        service.start()
        assert probe(service, "/health/ready").status_code == 200


def test_hostile_requests_leave_bounded_warnings_in_the_log(
    service: Server, http: httpx.Client
) -> None:
    """Long query strings, paths, host names and bodies: none gets a 5xx (a query string of
    3000 unknown fields may be served: FastAPI ignores them, Django refuses them), and the log
    lines they cause stay under 8 KB, none of them at ERROR."""
    marker = f"hostile-{uuid.uuid4().hex[:8]}"
    fields = "&".join(f"f{n}=v" for n in range(3000))
    requests = [
        ("GET", f"/api/v1/items?{fields}", {}, None),
        ("GET", "/api/v1/items?limit=" + "9" * 20_000, {}, None),
        ("GET", "/" + "a" * 7000, {}, None),
        ("GET", "/api/v1/items", {"Host": "h" * 5000}, None),
        (
            "POST",
            "/api/v1/items",
            {"Content-Type": "application/json"},
            b'{"name": "' + b"x" * 200_000 + b'"}',
        ),
    ]
    for number, (method, path, headers, body) in enumerate(requests):
        request_id = f"{marker}-{number}"
        response = http.request(
            method, path, headers={**headers, "X-Request-ID": request_id}, content=body
        )
        assert response.status_code < 500, (path[:40], response.status_code)
        service.wait_for_output(request_id)  # its access line
    lines = [line for line in service.output().splitlines() if marker in line]
    assert len(lines) >= len(requests)
    assert max(len(line) for line in lines) <= 8192
    records = [r for r in service.records() if str(r.get("request_id", "")).startswith(marker)]
    assert {r["level"] for r in records} <= {"info", "warning"}


class Browser:
    """Just enough of a browser for the admin's forms over plain HTTP: it keeps the cookies
    (the service marks them Secure, which httpx would keep to https) and the CSRF token."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=PROBE_TIMEOUT, trust_env=False)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> httpx.Response:
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        headers = {"Cookie": cookie, "Origin": str(self.http.base_url).rstrip("/")}
        if form is not None:
            form = {**form, "csrfmiddlewaretoken": self.cookies["csrftoken"]}
        response = self.http.request(method, path, headers=headers, data=form)
        for line in response.headers.get_list("set-cookie"):
            name, _, value = line.split(";", 1)[0].partition("=")
            self.cookies[name] = value
        return response


def test_admin_passwords_must_pass_the_validators(deployment: Deployment, service: Server) -> None:
    """Over the admin's own forms: a staff user cannot give another user a common password."""
    if deployment.variant.framework != "django":
        pytest.skip("only Django services have an admin")
    name = f"root{uuid.uuid4().hex[:6]}"
    passphrase = uuid.uuid4().hex
    create = (
        "from django.contrib.auth import get_user_model; "
        f"get_user_model().objects.create_superuser({name!r}, password={passphrase!r})"
    )
    harness.run(
        deployment.project.path,
        deployment.project.bin("python"),
        "manage.py",
        "shell",
        "-c",
        create,
        env=deployment.env,
    )
    browser = Browser(service.url)
    assert browser.request("GET", "/admin/login/").status_code == 200
    login = {"username": name, "password": passphrase}
    assert browser.request("POST", "/admin/login/", login).status_code == 302

    assert browser.request("GET", "/admin/auth/user/add/").status_code == 200
    weak = {"username": f"weak{name}", "password1": "password", "password2": "password"}
    refused = browser.request("POST", "/admin/auth/user/add/", {**weak, "usable_password": "true"})
    assert refused.status_code == 200  # the form again, with its errors
    assert "This password is too common." in refused.text
    users = browser.request("GET", f"/admin/auth/user/?q=weak{name}")
    assert "0 users" in users.text or f"weak{name}" not in users.text


def test_rate_limits_are_shared_by_the_workers_through_redis(deployment: Deployment) -> None:
    """Two workers, one count in Redis: of 12 requests in a window of 6, exactly 6 pass, the
    others get 429 with Retry-After; the window over, the client is served again."""
    prefix = f"cps-rl-{uuid.uuid4().hex[:8]}"
    settings = {
        "rate_limit": "6 per 3 seconds",
        "redis_url": "redis://127.0.0.1:6379/0",
        "redis_prefix": prefix,
        "workers": "2",
    }
    with started(deployment, **settings) as service:
        service.wait_for_output('"Started worker-', count=2)
        answers = []
        for _ in range(12):  # a connection each: the workers take turns accepting them
            with httpx.Client(base_url=service.url, trust_env=False) as client:
                answers.append(client.get("/api/v1/items?limit=1"))
        statuses = [response.status_code for response in answers]
        assert statuses.count(200) == 6, statuses
        assert statuses.count(429) == 6, statuses
        refused = next(response for response in answers if response.status_code == 429)
        assert 1 <= int(refused.headers["retry-after"]) <= 3
        assert refused.headers["ratelimit-policy"] == '"api";q=6;w=3'
        assert refused.json()["status"] == 429
        time.sleep(int(refused.headers["retry-after"]) + 0.5)
        assert probe(service, "/api/v1/items?limit=1").status_code == 200


def test_rate_limits_let_requests_through_when_redis_is_down(deployment: Deployment) -> None:
    settings = {"rate_limit": "1/minute", "redis_url": "redis://127.0.0.1:9/0", "workers": "1"}
    with started(deployment, **settings) as service:
        for _ in range(3):
            assert probe(service, "/api/v1/items?limit=1").status_code == 200
        warnings = [r for r in service.records() if r["event"] == "rate_limit_unavailable"]
        assert len(warnings) == 1  # once a minute, not once a request
        assert warnings[0]["level"] == "warning"
