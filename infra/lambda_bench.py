#!/usr/bin/env python3
"""Cold start and peak memory of the eight functions' release binaries and of the AWS
sample's Node `sendmessage` handler (aws-samples/simple-websockets-chat-app), each spawned
under the same Lambda Runtime API emulator on loopback, so the ratios compare like with like.

usage: lambda_bench.py --bin-dir target/release --cache DIR [--runs N] [--dynamodb URL]
                       [--chat-local BIN] [--only NAME ...]

For each of N cold starts of each contender: spawn it with AWS_LAMBDA_RUNTIME_API pointing
at the emulator, time spawn -> its first `GET /2018-06-01/runtime/invocation/next` (init),
read its peak RSS (VmHWM) there, then, when the contender has an event that needs no more
than the DynamoDB endpoint (moto), hand it that event and read VmHWM again. Prints medians
as rows of the benchmarks' Markdown table (infra/bench.sh gathers them).

The sample is cloned (shallow) into the cache at bench time, its SDK installed with npm,
and run by infra/lambda_bench.mjs, a minimal Node runtime loop.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RUNTIME = "/2018-06-01/runtime"
HERE = Path(__file__).resolve().parent
SAMPLE_REPO = "https://github.com/aws-samples/simple-websockets-chat-app.git"
# The clients sendmessage/app.js imports; nodejs20.x ships them, here npm installs them.
SAMPLE_SDK = ["@aws-sdk/client-dynamodb", "@aws-sdk/lib-dynamodb",
              "@aws-sdk/client-apigatewaymanagementapi"]
SAMPLE_SDK_VERSION = "3.1178.0"
SAMPLE = "Node sendmessage"
JWT_SECRET = "a-benchmark-secret-of-enough-length-for-hs256"
CHAT_TABLE = "bench-chat"
SAMPLE_TABLE = "bench-sample-connections"
CONNECTION_ID = "benchConnId="
INIT_WAIT_SECONDS = 30


class Emulator(ThreadingHTTPServer):
    """One Lambda Runtime API for one process; also answers its posts to @connections
    with 410, as API Gateway does for a connection that is gone, so no post waits on AWS."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.events = queue.Queue()
        self.pid = None
        self.pid_known = threading.Event()
        self.first_next = threading.Event()
        self.init_seconds = None
        self.init_rss_kb = None
        self.spawned_at = None
        self.results = {}
        self.answered = {}

    def handle_error(self, request, client_address):
        pass  # each process is killed mid-poll at the end of its run

    @property
    def address(self):
        return f"127.0.0.1:{self.server_address[1]}"

    def submit(self, event):
        request_id = str(uuid.uuid4())
        self.answered[request_id] = threading.Event()
        self.events.put((request_id, event))
        return request_id


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms to each exchange

    def log_message(self, *args):
        pass

    def reply(self, code, body=b"", headers=None):
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        emulator = self.server
        if self.path != RUNTIME + "/invocation/next":
            return self.reply(404)
        if not emulator.first_next.is_set():
            emulator.init_seconds = time.perf_counter() - emulator.spawned_at
            emulator.pid_known.wait(INIT_WAIT_SECONDS)
            emulator.init_rss_kb = peak_rss_kb(emulator.pid)
            emulator.first_next.set()
        request_id, event = emulator.events.get()
        if request_id is None:
            return self.reply(503)
        self.reply(200, json.dumps(event).encode(), {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 30_000),
            "Lambda-Runtime-Invoked-Function-Arn":
                "arn:aws:lambda:us-east-1:123456789012:function:bench",
            "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
        })

    def do_POST(self):
        emulator = self.server
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if "/@connections/" in self.path:
            return self.reply(410, b"", {"x-amzn-ErrorType": "GoneException"})
        parts = self.path[len(RUNTIME):].strip("/").split("/")
        if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            request_id = parts[1]
            emulator.results[request_id] = (parts[2], body)
            if request_id in emulator.answered:
                emulator.answered[request_id].set()
            return self.reply(202)
        if parts[:2] == ["init", "error"]:
            emulator.results["init"] = ("init error", body)
            emulator.first_next.set()
            return self.reply(202)
        return self.reply(404)

    do_DELETE = do_POST


def peak_rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, TypeError):
        return None
    return None


class Contender:
    """A process to measure; with `event`, one invocation whose answer must hold `expect`."""

    def __init__(self, name, command, env, event=None, event_name=None, expect=""):
        self.name, self.command, self.env = name, command, env
        self.event, self.event_name, self.expect = event, event_name, expect


def cold_start(contender):
    """One spawn: (init ms, RSS kB at init, RSS kB after the event or None, failure)."""
    emulator = Emulator()
    threading.Thread(target=emulator.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": emulator.address,
        "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    })
    env.update({k: v.replace("{runtime}", emulator.address) for k, v in contender.env.items()})
    emulator.spawned_at = time.perf_counter()
    process = subprocess.Popen(contender.command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    emulator.pid = process.pid
    emulator.pid_known.set()
    failure, after_kb = None, None
    if not emulator.first_next.wait(INIT_WAIT_SECONDS):
        failure = "no GET /next"
    elif "init" in emulator.results:
        failure = emulator.results["init"][1].decode(errors="replace")
    elif contender.event is not None:
        request_id = emulator.submit(contender.event)
        if not emulator.answered[request_id].wait(INIT_WAIT_SECONDS):
            failure = "no answer to the event"
        else:
            kind, body = emulator.results[request_id]
            answer = body.decode(errors="replace")
            if kind != "response" or contender.expect not in answer:
                failure = f"the event was answered {kind} {answer[:300]}"
            after_kb = peak_rss_kb(process.pid)
    os.killpg(process.pid, signal.SIGKILL)
    stderr = process.stderr.read().decode(errors="replace")
    process.wait()
    emulator.events.put((None, None))
    emulator.shutdown()
    emulator.server_close()
    if failure:
        failure += f"\n{stderr[-600:]}"
    init_ms = emulator.init_seconds * 1000 if emulator.init_seconds else None
    return init_ms, emulator.init_rss_kb, after_kb, failure


def token(sub):
    """An HS256 token the functions verify with JWT_SECRET."""
    def part(value):
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    now = int(time.time())
    signing_input = part({"alg": "HS256", "typ": "JWT"}) + "." + part(
        {"sub": sub, "role": "user", "name": sub, "iat": now, "exp": now + 3600})
    signature = hmac.new(JWT_SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


def websocket_event(route_key, event_type, body=None):
    """A WebSocket API event from a connection the table does not know."""
    now = int(time.time() * 1000)
    event = {
        "requestContext": {
            "routeKey": route_key, "eventType": event_type, "messageDirection": "IN",
            "stage": "local", "connectedAt": now, "requestTimeEpoch": now,
            "requestId": str(uuid.uuid4()), "domainName": "127.0.0.1",
            "connectionId": CONNECTION_ID, "apiId": "bench",
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        event["body"] = json.dumps(body)
        event["requestContext"]["messageId"] = str(uuid.uuid4())
    return event


def authorizer_event():
    event = websocket_event("$connect", "CONNECT")
    return {
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:bench/local/$connect",
        "headers": {"Host": "127.0.0.1"},
        "queryStringParameters": {"token": token("ann")},
        "requestContext": event["requestContext"],
    }


def health_event():
    """API Gateway's HTTP API (payload 2.0) asking GET /health."""
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": "/health", "rawQueryString": "",
        "headers": {"host": "127.0.0.1"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "bench", "domainName": "127.0.0.1",
            "http": {"method": "GET", "path": "/health", "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": str(uuid.uuid4()), "routeKey": "$default", "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": int(time.time() * 1000),
        },
        "isBase64Encoded": False,
    }


def dynamodb(endpoint, operation, body):
    """One DynamoDB JSON API call to moto (which does not check signatures)."""
    request = urllib.request.Request(endpoint, data=json.dumps(body).encode(), headers={
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"DynamoDB_20120810.{operation}",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request",
    })
    try:
        urllib.request.urlopen(request, timeout=10).read()
    except urllib.error.HTTPError as error:
        if b"ResourceInUseException" not in error.read():
            raise


def create_tables(endpoint, chat_local):
    """The sample's table (connectionId), and the chat table as chat-local creates it."""
    dynamodb(endpoint, "CreateTable", {
        "TableName": SAMPLE_TABLE, "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "connectionId", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "connectionId", "KeyType": "HASH"}],
    })
    # chat-local creates its table if absent before it prints its banner.
    server = subprocess.Popen(
        [chat_local, "--dynamodb-endpoint", endpoint, "--table", CHAT_TABLE,
         "--http-port", "0", "--ws-port", "0", "--sweep-seconds", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in server.stdout:
            if "chat-local is running" in line:
                return
        raise SystemExit("chat-local stopped before creating the table")
    finally:
        server.kill()
        server.wait()


def prepare_sample(cache):
    """The sample's sendmessage folder, cloned and its SDK installed once per cache."""
    sample = cache / "simple-websockets-chat-app"
    handler = sample / "sendmessage"
    if not (handler / "app.js").exists():
        repo = os.environ.get("LAMBDA_BENCH_SAMPLE_REPO", SAMPLE_REPO)
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", repo, str(sample)], check=True)
    if not all((handler / "node_modules" / package).exists() for package in SAMPLE_SDK):
        subprocess.run(["npm", "install", "--silent", "--no-save", "--no-audit", "--no-fund",
                        *[f"{package}@{SAMPLE_SDK_VERSION}" for package in SAMPLE_SDK]],
                       cwd=handler, check=True, stdout=subprocess.DEVNULL)
    return handler


def contenders(bin_dir, handler_dir, dynamodb_endpoint):
    with_moto = dynamodb_endpoint is not None
    common = {
        "JWT_SECRET": JWT_SECRET, "TABLE_NAME": CHAT_TABLE,
        "WEBSOCKET_ENDPOINT": "http://{runtime}/local",
        # No ATTACHMENTS_BUCKET but for uploads, which needs one: the others would build
        # an S3 client they never use here.
        "BOT_PROVIDER": "echo",
    }
    if with_moto:
        common["DYNAMODB_ENDPOINT"] = dynamodb_endpoint
    # Each event, what it is, and what its answer holds when it went as it should.
    events = {
        "authorizer": (authorizer_event(), "a $connect with a valid token", '"Allow"'),
        "sessions": (health_event(), "GET /health", '"statusCode":200'),
    }
    if with_moto:
        events["message"] = (
            websocket_event("$default", "MESSAGE", {"action": "typing", "is_typing": True}),
            "a typing frame from an unknown connection", '"statusCode":200')
        events["disconnect"] = (websocket_event("$disconnect", "DISCONNECT"),
                                "$disconnect of an unknown connection", '"statusCode":200')
        events["sweeper"] = ({}, "a sweep of an empty table", "{")
    functions = ["authorizer", "bot", "connect", "disconnect", "message", "sessions",
                 "sweeper", "uploads"]
    listed = []
    for name in functions:
        env = dict(common)
        if name == "uploads":
            env["ATTACHMENTS_BUCKET"] = "bench-attachments"
        listed.append(Contender(name, [str(bin_dir / name)], env, *events.get(name, ())))
    node_env = {"LAMBDA_TASK_ROOT": str(handler_dir), "_HANDLER": "app.handler",
                "TABLE_NAME": SAMPLE_TABLE}
    sample_event = None
    if with_moto:
        node_env["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_endpoint
        sample_event = websocket_event("sendmessage", "MESSAGE",
                                       {"action": "sendmessage", "data": "hello"})
    listed.append(Contender(SAMPLE, ["node", str(HERE / "lambda_bench.mjs")], node_env,
                            sample_event, "a sendmessage to an empty table",
                            '"statusCode":200'))
    return listed


def median_of(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def measure(contender, runs):
    inits, init_rss, after_rss = [], [], []
    for _ in range(runs):
        init_ms, rss_kb, after_kb, failure = cold_start(contender)
        if failure:
            raise SystemExit(f"{contender.name}: {failure}")
        inits.append(init_ms)
        init_rss.append(rss_kb)
        after_rss.append(after_kb)
    return {
        "init_ms": median_of(inits), "init_min": min(inits), "init_max": max(inits),
        "rss_mb": median_of(init_rss) / 1024,
        "after_mb": (median_of(after_rss) or 0) / 1024 or None,
    }


def ratio(value, baseline):
    return f"{value / baseline:.2f}×" if value and baseline else "n/a"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--dynamodb", help="moto's endpoint, for one invocation each")
    parser.add_argument("--chat-local", help="chat-local's binary, to create the chat table")
    parser.add_argument("--only", action="append", help="measure only these (repeatable)")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    handler_dir = prepare_sample(args.cache)
    if args.dynamodb:
        if not args.chat_local:
            parser.error("--dynamodb needs --chat-local to create the chat table")
        create_tables(args.dynamodb, args.chat_local)
    listed = [c for c in contenders(args.bin_dir, handler_dir, args.dynamodb)
              if not args.only or c.name in args.only]
    figures = {c.name: measure(c, args.runs) for c in listed}
    node = figures.get(SAMPLE, {"init_ms": None, "rss_mb": None, "after_mb": None})
    print("| benchmark | case | figure | detail |\n|---|---|---|---|")
    for contender in listed:
        f = figures[contender.name]
        figure = f"{f['init_ms']:.1f} ms, {f['rss_mb']:.1f} MB"
        if f["after_mb"]:
            figure += f" ({f['after_mb']:.1f} MB after one event)"
        if contender.name == SAMPLE:
            versus = "the baseline"
        else:
            versus = (f"vs {SAMPLE}: {ratio(f['init_ms'], node['init_ms'])} the time, "
                      f"{ratio(f['rss_mb'], node['rss_mb'])} the memory")
            if f["after_mb"] and node["after_mb"]:
                versus += f" ({ratio(f['after_mb'], node['after_mb'])} after an event)"
        event = f"event: {contender.event_name}" if f["after_mb"] else "init only"
        print(f"| Cold start and peak RSS (spawn → first /next; VmHWM) | {contender.name} | "
              f"{figure} | {versus}; median of {args.runs} cold starts "
              f"(init {f['init_min']:.1f}–{f['init_max']:.1f} ms); {event} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
