"""A simulated NIM for LLMs' HTTP endpoint (pure, deterministic): what a ready NIM service
answers on `/v1/health/ready`, `/v1/health/live`, `/v1/models`, `/v1/chat/completions` and
`/v1/completions` (OpenAI's shapes, a canned completion; `stream: true` as server-sent
events). The model is named from the image, as a NIM serves it: `nvcr.io/nim/meta/llama-3.1-8b-
instruct:1.3.3` serves `meta/llama-3.1-8b-instruct`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Final

import orjson

from nimplane.domain.backend import Forwarded
from nimplane.domain.images import parse_image_reference

JSON: Final = "application/json"
COMPLETION: Final = "This is a simulated response from {model} on nimplane's simulated cluster."
_ROUTES: Final = {
    "/v1/health/ready": "GET",
    "/v1/health/live": "GET",
    "/v1/models": "GET",
    "/v1/chat/completions": "POST",
    "/v1/completions": "POST",
}


def served_model(image: str) -> str:
    """The model a NIM image serves: its repository without the leading `nim/`."""
    reference = parse_image_reference(image)
    if reference is None:
        return image
    repository = reference.repository
    return repository.removeprefix("nim/")


def _json(status: int, body: Any) -> Forwarded:
    return Forwarded(status, {"content-type": JSON}, orjson.dumps(body))


def _error(status: int, kind: str, message: str) -> Forwarded:
    return _json(status, {"object": "error", "message": message, "type": kind, "code": status})


def answer(model: str, method: str, path: str, body: bytes, now: datetime) -> Forwarded:
    """The endpoint's answer to one request (`path` without the query)."""
    expected = _ROUTES.get(path)
    if expected is None:
        return _json(404, {"detail": "Not Found"})
    if method.upper() != expected:
        return _json(405, {"detail": "Method Not Allowed"})
    created = int(now.timestamp())
    if path == "/v1/health/ready":
        return _json(200, {"object": "health.response", "message": "Service is ready."})
    if path == "/v1/health/live":
        return _json(200, {"object": "health.response", "message": "Service is live."})
    if path == "/v1/models":
        entry = {"id": model, "object": "model", "created": created, "owned_by": "system"}
        return _json(200, {"object": "list", "data": [{**entry, "root": model}]})
    try:
        request = orjson.loads(body or b"null")
    except orjson.JSONDecodeError:
        return _error(400, "BadRequestError", "The request body is not valid JSON.")
    if not isinstance(request, dict):
        return _error(400, "BadRequestError", "The request body must be a JSON object.")
    asked = request.get("model")
    if asked != model:
        return _error(404, "NotFoundError", f"The model `{asked}` does not exist.")
    chat = path == "/v1/chat/completions"
    if chat and not isinstance(request.get("messages"), list):
        return _error(400, "BadRequestError", "'messages': a list of messages is required.")
    if not chat and not isinstance(request.get("prompt"), str | list):
        return _error(400, "BadRequestError", "'prompt': a prompt is required.")
    text = COMPLETION.format(model=model)
    digest = hashlib.sha256(body).hexdigest()[:24]
    tokens = len(text.split())
    usage = {"prompt_tokens": len(body) // 4, "completion_tokens": tokens}
    usage["total_tokens"] = usage["prompt_tokens"] + tokens
    if chat:
        ident, kind = f"chatcmpl-{digest}", "chat.completion"
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
        }
    else:
        ident, kind = f"cmpl-{digest}", "text_completion"
        choice = {"index": 0, "text": text, "finish_reason": "stop"}
    result = {
        "id": ident,
        "object": kind,
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": usage,
    }
    if request.get("stream") is True:
        return _stream(result, chat)
    return _json(200, result)


def _stream(result: dict[str, Any], chat: bool) -> Forwarded:
    """The completion as server-sent events: one chunk with the whole text, then `[DONE]`."""
    choice = dict(result["choices"][0])
    if chat:
        choice["delta"] = choice.pop("message")
    chunk = {**result, "choices": [choice]}
    if chat:
        chunk["object"] = "chat.completion.chunk"
    chunk.pop("usage")
    events = b"data: " + orjson.dumps(chunk) + b"\n\ndata: [DONE]\n\n"
    return Forwarded(200, {"content-type": "text/event-stream"}, events)
