"""The LLM stage backend: extract / triple / reason over any OpenAI-compatible chat endpoint.

This module owns
- `resolve_endpoint`: which base URL and API key a model config ends up using (env wins);
- `OpenAIBackend`: the `StageBackend` that sends one short, deterministic chat completion per stage
  call (temperature 0, small `max_tokens`) and reports every call — tokens from the API's `usage`,
  wall-clock latency, success — in `ToolResult.llm_calls`;
- `LlmError`: the one exception a failed LLM call raises. It carries the failed call's record in
  `.calls`, so the agent can log the latency of a failed hop and turn it into a failed hop rather
  than a crash.

The same backend serves a hosted API, vLLM, Ollama or the bundled llama.cpp server of
`fsr.agents.tools.local_server` (type "local"), which the runner starts and points this backend at.

Retries and timeouts are the `openai` client's own: `timeout` is applied to every HTTP attempt
(connect, read and write each), `max_retries` retries connection errors, timeouts, 408/409/429 and
5xx with exponential backoff (0.5 s · 2^n, jittered, capped at 8 s). A call therefore gives up after
at most (max_retries + 1) · timeout + the backoff sleeps. A 4xx other than those fails at once.

The API key is never put in an exception, a log line or a call record: every error text is scrubbed
of it before it leaves this module.
"""

from __future__ import annotations

import os
import re
import threading
import time
from typing import Any

import openai

from fsr.agents.tools.base import ToolResult

# llama.cpp's server (started without --api_key) and most local servers accept any key; the openai
# client refuses to start without one.
NO_KEY = "sk-no-key"

# Prompts stay short: every agent may run a small local model on two shared cores, and the longer
# the prompt, the longer each hop. Passages are cut to this many characters in total.
MAX_PASSAGE_CHARS = 2400
MAX_TOKENS = {"extract": 80, "triple": 48, "reason": 24}

# The prompts were chosen on the bundled 135M model (see benchmarks/llm_quality.py): it copies the
# right sentence zero-shot, but only writes triples and short answers when shown how. The worked
# examples are deliberately off the default document's topics and phrasings.
EXTRACT_SYSTEM = "You copy sentences from a text. Reply with one sentence only."
EXTRACT_USER = (
    "Text:\n{passages}\n\nQuestion: {question}\n"
    "Copy the one sentence from the text that answers the question."
)
TRIPLE_SYSTEM = "Write the sentence as: subject | relation | object"
TRIPLE_USER = "Sentence: {sentence}"
TRIPLE_SHOTS = (
    ("The Old Mill was built by Anna Rook.", "Old Mill | built by | Anna Rook"),
    ("The Grey Museum owns 4120 paintings.", "Grey Museum | owns paintings | 4120"),
    ("The Lark School stands in Harlow.", "Lark School | stands in | Harlow"),
)
REASON_USER = "Fact: {sentence}\nTriple: {triple}\nQuestion: {question}"
REASON_SHOTS = (
    (
        "The Old Mill was built by Anna Rook.",
        "Old Mill | built by | Anna Rook",
        "Who built the Old Mill?",
        "Anna Rook",
    ),
    (
        "The Grey Museum owns 4120 paintings.",
        "Grey Museum | owns paintings | 4120",
        "How many paintings does the Grey Museum own?",
        "4120",
    ),
)

_ANSWER_LABEL = re.compile(r"^(?:final\s+)?(?:short\s+)?answer\s*:\s*", re.IGNORECASE)
_SENTENCE_LABEL = re.compile(r"^sentence\s*:\s*", re.IGNORECASE)
_TRAILING = " \t.\"'`“”‘’"
_LEADING = " \t\"'`“”‘’"


class LlmError(RuntimeError):
    """An LLM call failed (after the client's retries). `calls` holds its call records."""

    def __init__(self, message: str, calls: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.calls: list[dict[str, Any]] = list(calls or [])


def resolve_endpoint(model_cfg: Any) -> tuple[str | None, str]:
    """(base_url, api_key) a model config uses.

    - `OPENAI_BASE_URL` / `OPENAI_API_KEY` from the environment win over the config's `base_url` /
      `openai_api_key`; a base_url of None means the client's default (the hosted OpenAI API).
    - Type "local" is the exception: its base_url is the bundled server the runner started (set into
      `model_cfg.base_url`), which an inherited `OPENAI_BASE_URL` must not redirect; its key is the
      dummy `NO_KEY`.
    - With a custom endpoint and no key anywhere, the dummy `NO_KEY` is used (local servers need
      none). With neither an endpoint nor a key, `LlmError` says what to set.
    """
    if getattr(model_cfg, "type", None) == "local":
        if not model_cfg.base_url:
            raise LlmError("llm type 'local': the local server's base_url is not set")
        return model_cfg.base_url, NO_KEY
    base_url = os.environ.get("OPENAI_BASE_URL") or model_cfg.base_url or None
    key = os.environ.get("OPENAI_API_KEY") or model_cfg.openai_api_key or None
    if key is None:
        if base_url is None:
            raise LlmError(
                "llm type 'openai' needs an API key: set OPENAI_API_KEY (or llm.model.base_url / "
                "OPENAI_BASE_URL for a local OpenAI-compatible server)"
            )
        key = NO_KEY
    return base_url, key


def normalize_answer_text(text: str) -> str:
    """First non-empty line, an 'Answer:' label dropped, trailing period and quotes stripped."""
    line = next((ln.strip() for ln in text.strip().splitlines() if ln.strip()), "")
    line = _ANSWER_LABEL.sub("", line.strip(_LEADING))
    return line.strip(_LEADING).rstrip(_TRAILING).strip()


def normalize_sentence_text(text: str) -> str:
    """First non-empty line, a 'Sentence:' label and surrounding quotes dropped."""
    line = next((ln.strip() for ln in text.strip().splitlines() if ln.strip()), "")
    line = _SENTENCE_LABEL.sub("", line.strip(_LEADING))
    return line.strip(_LEADING).rstrip(" \t\"'`“”‘’").strip()


def parse_triple(text: str) -> list[str] | None:
    """'s | r | o' (or '(s, r, o)') on the first line -> [s, r, o]; anything else -> None."""
    line = next((ln.strip() for ln in text.strip().splitlines() if ln.strip()), "")
    line = line.strip(" \t()[]")
    parts = [p.strip(_LEADING).rstrip(_TRAILING).strip() for p in line.split("|")]
    if len(parts) != 3:
        parts = [p.strip(_LEADING).rstrip(_TRAILING).strip() for p in line.split(",")]
    if len(parts) != 3 or not all(parts):
        return None
    return parts


def _passages_block(passages: list[str]) -> str:
    out: list[str] = []
    budget = MAX_PASSAGE_CHARS
    for p in passages:
        p = " ".join(p.split())
        if budget <= 0 or not p:
            continue
        out.append(p[:budget])
        budget -= len(out[-1])
    return "\n".join(out)


def _turn(user: str, assistant: str) -> list[dict[str, str]]:
    """One worked example: a user message and the reply wanted."""
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


class OpenAIBackend:
    """`StageBackend` over an OpenAI-compatible chat-completions endpoint; thread-safe."""

    blocking = True

    def __init__(self, model_cfg: Any) -> None:
        self.model: str = model_cfg.name
        base_url, key = resolve_endpoint(model_cfg)
        self.base_url: str | None = base_url
        self._key = key
        self._client = openai.OpenAI(
            api_key=key,
            base_url=base_url,
            timeout=float(model_cfg.timeout),
            max_retries=int(model_cfg.max_retries),
        )
        # The agent runs this from a pool of `concurrency` threads; the semaphore keeps the limit
        # even if a caller shares one backend between more threads.
        self._slots = threading.BoundedSemaphore(int(model_cfg.concurrency))

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    # --- the three stages ------------------------------------------------------------------

    def extract(self, question: str, passages: list[str]) -> ToolResult:
        user = EXTRACT_USER.format(passages=_passages_block(passages), question=question.strip())
        messages = [
            {"role": "system", "content": EXTRACT_SYSTEM},
            {"role": "user", "content": user},
        ]
        text, call = self._chat("extract", messages)
        return ToolResult(output={"sentence": normalize_sentence_text(text)}, llm_calls=[call])

    def triple(self, question: str, sentence: str) -> ToolResult:
        if not sentence.strip():
            return ToolResult(output={"triple": None})
        messages = [{"role": "system", "content": TRIPLE_SYSTEM}]
        for shot, answer in TRIPLE_SHOTS:
            messages += _turn(TRIPLE_USER.format(sentence=shot), answer)
        messages.append(
            {"role": "user", "content": TRIPLE_USER.format(sentence=" ".join(sentence.split()))}
        )
        text, call = self._chat("triple", messages)
        return ToolResult(output={"triple": parse_triple(text)}, llm_calls=[call])

    def reason(self, question: str, sentence: str, triple: list[str] | None) -> ToolResult:
        messages: list[dict[str, str]] = []
        for fact, shot_triple, shot_q, answer in REASON_SHOTS:
            user = REASON_USER.format(sentence=fact, triple=shot_triple, question=shot_q)
            messages += _turn(user, answer)
        user = REASON_USER.format(
            sentence=" ".join(sentence.split()) or "(none)",
            triple=" | ".join(triple) if triple else "(none)",
            question=question.strip(),
        )
        messages.append({"role": "user", "content": user})
        text, call = self._chat("reason", messages)
        return ToolResult(output={"answer": normalize_answer_text(text)}, llm_calls=[call])

    # --- one call --------------------------------------------------------------------------

    def _chat(self, stage: str, messages: list[dict[str, str]]) -> tuple[str, dict[str, Any]]:
        with self._slots:
            t0 = time.perf_counter()
            try:
                resp = self._client.chat.completions.create(
                    model=self.model,
                    messages=messages,  # type: ignore[arg-type]
                    temperature=0,
                    max_tokens=MAX_TOKENS[stage],
                )
            except Exception as exc:  # noqa: BLE001 - every client failure becomes an LlmError
                latency_ms = (time.perf_counter() - t0) * 1000.0
                err = self._scrub(f"{type(exc).__name__}: {exc}")
                call = self._record(0, 0, latency_ms, ok=False, error=err)
                where = self._scrub(self.base_url or "default endpoint")
                raise LlmError(
                    f"{stage} call to model {self.model!r} at {where} failed after "
                    f"{latency_ms:.0f} ms: {err}",
                    [call],
                ) from None
            latency_ms = (time.perf_counter() - t0) * 1000.0
        usage = getattr(resp, "usage", None)
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        choices = getattr(resp, "choices", None) or []
        if not choices:
            call = self._record(
                prompt_tokens, completion_tokens, latency_ms, ok=False, error="no choices"
            )
            raise LlmError(f"{stage} call to model {self.model!r}: response has no choices", [call])
        content = choices[0].message.content or ""
        return content, self._record(prompt_tokens, completion_tokens, latency_ms, ok=True)

    def _record(
        self, prompt: int, completion: int, latency_ms: float, *, ok: bool, error: str | None = None
    ) -> dict[str, Any]:
        return {
            "model": self.model,
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "latency_ms": round(latency_ms, 3),
            "ok": ok,
            "error": error,
        }

    def _scrub(self, text: str) -> str:
        """Remove the API key (and any URL user-info) from a text; cut it to one short line."""
        if self._key and self._key != NO_KEY:
            text = text.replace(self._key, "***")
        text = re.sub(r"(https?://)[^/@\s]+@", r"\1***@", text)
        text = " ".join(text.split())
        return text[:300]
