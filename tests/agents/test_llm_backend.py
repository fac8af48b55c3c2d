"""OpenAIBackend against fake OpenAI-compatible endpoints on 127.0.0.1.

- a stdlib HTTP server answering canned chat completions with `usage`: prompts go out as
  expected, usage and latency are recorded, the API key never shows in results, errors or logs;
- a port refusing connections, a socket that never answers, a server answering 503: each gives
  `LlmError` within the bound set by timeout, max_retries and the client's backoff.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fsr.agents.tools.llm import (
    NO_KEY,
    LlmError,
    OpenAIBackend,
    normalize_answer_text,
    parse_triple,
    resolve_endpoint,
)
from fsr.config.schema import Model
from tests.helpers import FakeServer

KEY = "sk-test-SECRET-0123456789abcdef"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def _cfg(base_url: str, **kw: Any) -> Model:
    params: dict[str, Any] = {
        "type": "openai",
        "name": "fake-model",
        "base_url": base_url,
        "openai_api_key": KEY,
        "timeout": 5.0,
        "max_retries": 0,
        "concurrency": 2,
    }
    params.update(kw)
    return Model(**params)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as s:
        yield s


def test_stages_send_prompts_and_record_usage(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    be = OpenAIBackend(_cfg(server.base_url))
    assert be.blocking is True
    passages = ["Ada Lovelace wrote the first program. She worked with Babbage.", "Other text."]
    ex = be.extract("Who wrote the first program?", passages)
    tr = be.triple("Who wrote the first program?", ex.output["sentence"])
    rs = be.reason("Who wrote the first program?", ex.output["sentence"], tr.output["triple"])
    be.close()

    assert ex.output == {"sentence": "Ada Lovelace wrote the first program."}
    assert tr.output == {"triple": ["Ada Lovelace", "wrote", "the first program"]}
    assert rs.output == {"answer": "Ada Lovelace"}

    assert len(server.requests) == 3
    for req in server.requests:
        assert req["path"] == "/v1/chat/completions"
        assert req["body"]["model"] == "fake-model"
        assert req["body"]["temperature"] == 0
        assert 0 < req["body"]["max_tokens"] <= 100
        assert req["headers"]["authorization"] == f"Bearer {KEY}"
    users = [r["body"]["messages"][-1]["content"] for r in server.requests]
    assert "Who wrote the first program?" in users[0]
    assert "She worked with Babbage." in users[0] and "Other text." in users[0]
    assert "Ada Lovelace wrote the first program." in users[1]
    assert "Ada Lovelace | wrote | the first program" in users[2]

    for res in (ex, tr, rs):
        (call,) = res.llm_calls
        assert call["model"] == "fake-model"
        assert call["prompt_tokens"] == 42 and call["completion_tokens"] == 7
        assert call["ok"] is True and call["error"] is None
        assert call["latency_ms"] > 0
    everything = json.dumps([ex.output, tr.output, rs.output, ex.llm_calls, tr.llm_calls])
    assert KEY not in everything
    assert KEY not in caplog.text
    assert KEY not in repr(be)


def test_error_echoing_the_key_is_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeServer(status=401) as s:
        be = OpenAIBackend(_cfg(s.base_url))
        with pytest.raises(LlmError) as info:
            be.reason("q?", "a sentence", None)
    err = info.value
    assert "401" in str(err)
    assert KEY not in str(err) and KEY not in repr(err)
    (call,) = err.calls
    assert call["ok"] is False and KEY not in call["error"] and call["latency_ms"] > 0
    assert KEY not in caplog.text
    assert len(s.requests) == 1  # a 401 is not retried


def test_concurrency_limit_is_enforced() -> None:
    with FakeServer(delay=0.2) as s:
        be = OpenAIBackend(_cfg(s.base_url, concurrency=2))
        threads = [threading.Thread(target=be.reason, args=(f"q{i}?", "s", None)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert len(s.requests) == 6
    assert s.max_in_flight == 2


def test_server_errors_are_retried_a_bounded_number_of_times() -> None:
    with FakeServer(status=503) as s:
        be = OpenAIBackend(_cfg(s.base_url, max_retries=2))
        t0 = time.monotonic()
        with pytest.raises(LlmError) as info:
            be.extract("q?", ["p"])
        elapsed = time.monotonic() - t0
    assert len(s.requests) == 3  # 1 + max_retries
    # backoff 0.5 s then 1 s, each jittered down by up to 25 %: measured between the attempts
    # the server saw (a loaded machine only lengthens them), and bounded overall with seconds of
    # slack — bounded, not hanging
    gaps = [b["t"] - a["t"] for a, b in zip(s.requests, s.requests[1:], strict=False)]
    assert gaps[0] >= 0.375 and gaps[1] >= 0.75, gaps
    assert elapsed < 10.0
    assert info.value.calls[0]["latency_ms"] >= 1000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_refused_connection_fails_quickly() -> None:
    port = _free_port()  # closed again: nothing listens there
    be = OpenAIBackend(_cfg(f"http://127.0.0.1:{port}/v1", max_retries=1, timeout=60.0))
    t0 = time.monotonic()
    with pytest.raises(LlmError) as info:
        be.triple("q?", "Some sentence.")
    elapsed = time.monotonic() - t0
    # one backoff (<= 0.5 s) and no timeout waited: far below one 60 s timeout, whatever the load
    assert elapsed < 15.0
    assert "Connection" in str(info.value)
    (call,) = info.value.calls
    assert call["ok"] is False and call["prompt_tokens"] == 0


def test_hanging_endpoint_times_out() -> None:
    # Listening but never accepting: the TCP handshake completes, no byte ever comes back.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        be = OpenAIBackend(_cfg(url, timeout=0.5, max_retries=1))
        t0 = time.monotonic()
        with pytest.raises(LlmError) as info:
            be.reason("q?", "s", None)
        elapsed = time.monotonic() - t0
    # 2 attempts x 0.5 s + one backoff of at most 0.5 s: at least the two timeouts; the ceiling
    # only tells a timed-out call from a hanging one (the client's default is 600 s)
    assert 1.0 <= elapsed < 15.0
    assert "Timeout" in str(info.value)
    assert info.value.calls[0]["latency_ms"] >= 1000


def test_resolve_endpoint_env_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _cfg("http://cfg.invalid/v1")
    assert resolve_endpoint(cfg) == ("http://cfg.invalid/v1", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://env.invalid/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    assert resolve_endpoint(cfg) == ("http://env.invalid/v1", "sk-env")
    # a local server: the runner's URL stands, the key is a dummy
    local = _cfg("http://127.0.0.1:9555/v1", type="local")
    assert resolve_endpoint(local) == ("http://127.0.0.1:9555/v1", NO_KEY)


def test_resolve_endpoint_without_key() -> None:
    assert resolve_endpoint(_cfg("http://127.0.0.1:1/v1", openai_api_key=None))[1] == NO_KEY
    with pytest.raises(LlmError, match="OPENAI_API_KEY"):
        resolve_endpoint(_cfg(None, openai_api_key=None))  # type: ignore[arg-type]


def test_normalisation() -> None:
    assert normalize_answer_text('  "Paris."  \nmore') == "Paris"
    assert normalize_answer_text("\n\nAnswer: 1887.") == "1887"
    assert normalize_answer_text("") == ""
    triple = ["Eiffel Tower", "located in", "Paris"]
    assert parse_triple("(Eiffel Tower, located in, Paris)") == triple
    assert parse_triple("no triple here") is None
