// Checks a running stack from outside, as a client would (docs/deploy.md, "After the first
// deploy"): health, a CORS preflight, a bot session, a message sent over REST that reaches
// a socket, and the bot's reply to it. Exits 1 at the first check that fails.
//
//   CHAT_HTTP=<HttpApiUrl> CHAT_WS=<WebSocketUrl> CHAT_TOKEN=<a user's JWT> \
//     node --experimental-websocket infra/smoke.mjs
//
// Optional: CHAT_ORIGIN (the web client's origin, for the preflight; default
// https://example.com), CHAT_CHATBOT (default assistant, the template's DefaultChatbotId),
// CHAT_WAIT_SECONDS (how long each answer may take; default 30).

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined || value === "") {
    console.error(`set ${name} (see the top of infra/smoke.mjs)`);
    process.exit(2);
  }
  return value;
};
const http = env("CHAT_HTTP").replace(/\/+$/, "");
const ws = env("CHAT_WS").replace(/\/+$/, "");
const token = env("CHAT_TOKEN");
const origin = env("CHAT_ORIGIN", "https://example.com");
const chatbot = env("CHAT_CHATBOT", "assistant");
const wait = Number(env("CHAT_WAIT_SECONDS", "30")) * 1000;

let failed = false;
const pass = (what) => console.log(`ok    ${what}`);
const fail = (what, detail) => {
  console.log(`FAIL  ${what}: ${detail}`);
  failed = true;
};

async function check(what, run) {
  try {
    const detail = await run();
    pass(detail ? `${what} (${detail})` : what);
    return true;
  } catch (error) {
    fail(what, error.message);
    return false;
  }
}

async function call(method, path, body, headers = {}) {
  const response = await fetch(`${http}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(wait),
  });
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // not every answer has a body
  }
  return { status: response.status, headers: response.headers, json, text };
}

const authorized = { authorization: `Bearer ${token}` };

function expectStatus(answer, status) {
  if (answer.status !== status) {
    throw new Error(`HTTP ${answer.status}, expected ${status}: ${answer.text.slice(0, 300)}`);
  }
}

/// The socket's frames, awaited by type, each within `wait`.
class Frames {
  constructor(socket) {
    this.seen = [];
    this.waiting = [];
    socket.addEventListener("message", (event) => {
      const frame = JSON.parse(event.data);
      this.seen.push(frame);
      this.waiting = this.waiting.filter((w) => !w.take(frame));
    });
  }

  next(predicate, what) {
    const found = this.seen.find(predicate);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${wait / 1000} s`)), wait);
      this.waiting.push({
        take: (frame) => {
          if (!predicate(frame)) return false;
          clearTimeout(timer);
          resolve(frame);
          return true;
        },
      });
    });
  }
}

await check("GET /health answers 200", async () => {
  const answer = await call("GET", "/health");
  expectStatus(answer, 200);
  return answer.text.trim();
});

await check("a browser's preflight is answered", async () => {
  const answer = await call("OPTIONS", "/sessions", undefined, {
    origin,
    "access-control-request-method": "POST",
    "access-control-request-headers": "authorization,content-type",
  });
  if (answer.status !== 204 && answer.status !== 200) {
    throw new Error(`HTTP ${answer.status}: ${answer.text.slice(0, 300)}`);
  }
  const allowed = answer.headers.get("access-control-allow-origin");
  if (allowed !== "*" && allowed !== origin) {
    throw new Error(`Access-Control-Allow-Origin is ${allowed}, not ${origin} or *`);
  }
  return `${answer.status}, allows ${allowed}`;
});

let session;
await check(`POST /sessions makes a bot session with ${chatbot}`, async () => {
  const answer = await call("POST", "/sessions", { kind: "bot", chatbot_id: chatbot }, authorized);
  if (answer.status !== 201 && answer.status !== 200) expectStatus(answer, 201);
  session = answer.json?.session?.id;
  if (!session) throw new Error(`no session id in ${answer.text.slice(0, 300)}`);
  return session;
});

if (session) {
  const url = `${ws}?token=${encodeURIComponent(token)}&session_id=${session}`;
  const socket = new WebSocket(url);
  const frames = new Frames(socket);
  const opened = await check("the WebSocket opens and welcomes", async () => {
    await new Promise((resolve, reject) => {
      socket.addEventListener("open", resolve, { once: true });
      socket.addEventListener("error", () => reject(new Error("the handshake failed")), {
        once: true,
      });
      setTimeout(() => reject(new Error("no handshake")), wait);
    });
    const info = await frames.next((f) => f.type === "session_info", "session_info");
    await frames.next((f) => f.type === "chat_history", "chat_history");
    return info.message;
  });

  let sent;
  if (opened) {
    await check("a message sent over REST reaches the socket", async () => {
      const content = `smoke test ${new Date().toISOString()}`;
      const answer = await call(
        "POST",
        `/sessions/${session}/messages`,
        { content },
        authorized,
      );
      expectStatus(answer, 201);
      sent = answer.json?.message?.id;
      const frame = await frames.next(
        (f) => f.type === "chat_message" && f.message?.id === sent,
        `chat_message ${sent}`,
      );
      return frame.message.content;
    });
  }

  if (sent) {
    await check("the bot streams a reply", async () => {
      const error = frames.next((f) => f.type === "error", "error");
      const complete = frames.next((f) => f.type === "response_complete", "response_complete");
      const done = await Promise.race([complete, error.then((e) => Promise.reject(new Error(`${e.code}: ${e.message}`)))]);
      const chunks = frames.seen.filter((f) => f.type === "response_chunk").length;
      if (!done.message?.content) throw new Error("the stored reply is empty");
      return `${chunks} chunks, ${done.message.content.length} characters${done.message.incomplete ? ", incomplete" : ""}`;
    });
  }
  socket.close();
  await check("DELETE /sessions/{id} ends the smoke test's session", async () => {
    const answer = await call("DELETE", `/sessions/${session}`, undefined, authorized);
    if (answer.status >= 300) throw new Error(`HTTP ${answer.status}: ${answer.text.slice(0, 300)}`);
    return String(answer.status);
  });
}

console.log(failed ? "smoke test FAILED" : "smoke test passed");
process.exit(failed ? 1 : 0);
