// The web client in a real headless Chromium (the system's, driven by playwright-core):
// two users in two browser contexts chat live; a bot reply streams and is stopped; a file
// is shared and opened; one goes offline, the other writes, the first comes back and sees
// it once. Any console error fails it. Screenshots go to CHAT_SCREENSHOTS.
//
// Run by tests/tests/web_client.rs with CHAT_WEB (the page), CHAT_CHROMIUM and
// CHAT_SCREENSHOTS.

import { createHash, createHmac, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';

const base = process.env.CHAT_WEB;
const shots = process.env.CHAT_SCREENSHOTS;
const WAIT = { timeout: 15000 };

/** An HS256 token the local server accepts (it checks its own secret). */
function idToken(claims) {
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const unsigned = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  const signature = createHmac('sha256', process.env.CHAT_JWT_SECRET).update(unsigned).digest('base64url');
  return `${unsigned}.${signature}`;
}

/**
 * A stand-in identity provider on CHAT_OIDC_PORT: its hosted page signs Carol in at once
 * and sends the browser back with a code; its token endpoint checks the PKCE verifier
 * against the challenge, as Cognito's does, and answers with an ID token.
 */
function provider(port) {
  const codes = new Map();
  const server = createServer((request, response) => {
    const url = new URL(request.url, `http://127.0.0.1:${port}`);
    if (url.pathname === '/authorize') {
      const asked = url.searchParams;
      if (asked.get('response_type') !== 'code' || asked.get('code_challenge_method') !== 'S256' || asked.get('client_id') !== 'web') {
        response.writeHead(400).end('bad authorization request');
        return;
      }
      const code = randomUUID();
      codes.set(code, { challenge: asked.get('code_challenge'), redirect: asked.get('redirect_uri') });
      const back = new URL(asked.get('redirect_uri'));
      back.search = new URLSearchParams({ code, state: asked.get('state') });
      response.writeHead(302, { location: back.toString() }).end();
      return;
    }
    let body = '';
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      const form = new URLSearchParams(body);
      const issued = codes.get(form.get('code'));
      codes.delete(form.get('code'));
      const verified = issued
        && createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url') === issued.challenge
        && form.get('redirect_uri') === issued.redirect;
      const headers = { 'content-type': 'application/json', 'access-control-allow-origin': '*' };
      if (url.pathname !== '/token' || !verified) {
        response.writeHead(400, headers).end(JSON.stringify({ error: 'invalid_grant' }));
        return;
      }
      const now = Math.floor(Date.now() / 1000);
      const token = idToken({ sub: 'carol', name: 'Carol', iat: now, exp: now + 3600 });
      response.writeHead(200, headers).end(JSON.stringify({ id_token: token, token_type: 'Bearer', expires_in: 3600 }));
    });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

/**
 * The client as a static host serves it for a deployed stack: web/ and a config.json
 * naming the API, on an origin of its own, so every REST call is cross-origin.
 */
function staticHost() {
  const types = { html: 'text/html', js: 'text/javascript', css: 'text/css' };
  const config = JSON.stringify({ api: base.replace(/\/$/, ''), ws: process.env.CHAT_WS, dev_tokens: false });
  const server = createServer(async (request, response) => {
    const path = new URL(request.url, 'http://x').pathname;
    if (path === '/config.json') {
      response.writeHead(200, { 'content-type': 'application/json' }).end(config);
      return;
    }
    const name = path === '/' ? 'index.html' : path.slice(1);
    if (!/^[a-z]+\.(html|js|css)$/.test(name)) {
      response.writeHead(404).end();
      return;
    }
    const body = await readFile(new URL(`../../web/${name}`, import.meta.url));
    response.writeHead(200, { 'content-type': types[name.split('.')[1]] }).end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const identity = await provider(Number(process.env.CHAT_OIDC_PORT));
const elsewhere = await staticHost();
const browser = await chromium.launch({
  executablePath: process.env.CHAT_CHROMIUM,
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
const problems = [];

/** A new page of `context` whose console errors and page errors fail the run. */
async function watched(context, name) {
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`${name}: console error: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`${name}: ${error.message}`));
  return page;
}

async function person(name, viewport, as = {}) {
  const context = await browser.newContext({ viewport });
  // Every socket passes through here, so the test can drop it as a network would.
  const sockets = [];
  await context.routeWebSocket(/.*/, (socket) => {
    const server = socket.connectToServer();
    sockets.push({ socket, server });
  });
  const page = await watched(context, name);
  await page.goto(base);
  if (as.visitorOf) {
    // A website visitor: no account, a support chat with the business.
    await page.getByLabel('Business', { exact: true }).fill(as.visitorOf);
    await page.getByRole('button', { name: 'Start a support chat' }).click();
  } else {
    await page.getByLabel('Your name').fill(name);
    if (as.role) await page.getByLabel('Role').selectOption(as.role);
    if (as.org) await page.getByLabel('Business (agents)').fill(as.org);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }
  await page.locator('#app').waitFor(WAIT);
  return { name, context, page, sockets };
}

function message(page, text) {
  return page.locator('#messages li.message:not(.streaming)', { hasText: text });
}

async function send(page, text) {
  await page.getByLabel('Message', { exact: true }).fill(text);
  await page.getByLabel('Message', { exact: true }).press('Enter');
}

async function openChat(page, name) {
  await page.reload();
  await page.locator('#session-list button', { hasText: name }).click(WAIT);
  await page.locator('#connection', { hasText: 'connected' }).waitFor(WAIT);
}

try {
  const ann = await person('Ann', { width: 1200, height: 800 });

  // Ann starts a group with Bob.
  await ann.page.getByLabel('Kind').selectOption('group');
  await ann.page.getByLabel('Title').fill('Lunch');
  await ann.page.getByLabel('Members (user ids, comma-separated)').fill('bob');
  await ann.page.getByRole('button', { name: 'Start' }).click();
  await ann.page.locator('#chat-title', { hasText: 'Lunch' }).waitFor(WAIT);
  await ann.page.locator('#connection', { hasText: 'connected' }).waitFor(WAIT);

  // Bob, at a phone's width, opens it; they chat live.
  const bob = await person('Bob', { width: 390, height: 844 });
  await openChat(bob.page, 'Lunch');
  await ann.page.locator('#online', { hasText: 'bob' }).waitFor(WAIT);
  await send(ann.page, 'Noodles at noon?');
  await message(bob.page, 'Noodles at noon?').waitFor(WAIT);
  await send(bob.page, 'Yes, see you there');
  await message(ann.page, 'Yes, see you there').waitFor(WAIT);
  // Typing shows on the other side.
  await bob.page.getByLabel('Message', { exact: true }).pressSequentially('thinking');
  await ann.page.locator('#typing', { hasText: 'bob' }).waitFor(WAIT);
  await bob.page.getByLabel('Message', { exact: true }).fill('');

  // A file is shared and opened.
  await ann.page.locator('#file').setInputFiles({
    name: 'menu.txt',
    mimeType: 'text/plain',
    buffer: Buffer.from('Noodles 9, dumplings 7'),
  });
  await ann.page.getByRole('button', { name: 'Send' }).click();
  const link = bob.page.locator('#messages a', { hasText: 'menu.txt' });
  await link.waitFor(WAIT);
  const href = await link.getAttribute('href');
  const opened = await bob.page.evaluate(async (url) => (await fetch(url)).text(), href);
  if (opened !== 'Noodles 9, dumplings 7') throw new Error(`the shared file reads ${JSON.stringify(opened)}`);

  // Bob goes offline: his socket drops, as a network change drops it, and cannot come
  // back; Ann writes; Bob comes back and sees it once.
  await bob.context.setOffline(true);
  for (const { socket, server } of bob.sockets.splice(0)) {
    await server.close();
    await socket.close();
  }
  await bob.page.locator('#connection', { hasText: 'offline' }).waitFor(WAIT);
  await send(ann.page, 'Running five minutes late');
  await message(ann.page, 'Running five minutes late').waitFor(WAIT);
  await bob.context.setOffline(false);
  await message(bob.page, 'Running five minutes late').waitFor(WAIT);
  await bob.page.locator('#connection', { hasText: 'connected' }).waitFor(WAIT);
  await bob.page.waitForTimeout(500);
  const copies = await message(bob.page, 'Running five minutes late').count();
  if (copies !== 1) throw new Error(`the missed message shows ${copies} times`);
  await bob.page.screenshot({ path: `${shots}/phone-width.png` });

  // A bot reply streams, and is stopped.
  await ann.page.getByLabel('Kind').selectOption('bot');
  const before = await ann.page.locator('#chat-title').textContent();
  await ann.page.getByRole('button', { name: 'Start' }).click();
  // The group's socket still says connected: wait for the bot session's welcome, which
  // comes only on its own socket, before sending.
  await ann.page.waitForFunction(
    (title) => document.querySelector('#chat-title')?.textContent !== title,
    before,
    WAIT,
  );
  await ann.page.locator('#connection', { hasText: 'connected' }).waitFor(WAIT);
  // The echo model repeats it, a word every 30 ms: seconds of streaming to stop.
  const long = Array.from({ length: 120 }, (_, i) => (i % 2 ? 'banana' : 'apple')).join(' ') + ' finally';
  await send(ann.page, long);
  await ann.page.locator('#messages li.streaming').waitFor(WAIT);
  await ann.page.getByRole('button', { name: 'Stop' }).click();
  await ann.page.locator('#messages li.streaming').waitFor({ state: 'detached', ...WAIT });
  const reply = ann.page.locator('#messages li.message.bot').last();
  await reply.waitFor(WAIT);
  await reply.locator('.meta', { hasText: 'stopped' }).waitFor(WAIT);
  const said = await reply.locator('.body').textContent();
  if (said.includes('finally')) throw new Error(`the reply was not stopped: ${said}`);
  await ann.page.screenshot({ path: `${shots}/bot-stopped.png` });

  // A visitor asks acme for help, as a site's chat widget does; acme's agent picks the
  // chat up from the queue and answers.
  const visitor = await person('visitor', { width: 390, height: 700 }, { visitorOf: 'acme' });
  await visitor.page.locator('#connection', { hasText: 'connected' }).waitFor(WAIT);
  await send(visitor.page, 'Where is my order?');
  await message(visitor.page, 'Where is my order?').waitFor(WAIT);
  const agent = await person('Alice', { width: 1200, height: 800 }, { role: 'agent', org: 'acme' });
  await agent.page.locator('#queue button').first().click(WAIT);
  await message(agent.page, 'Where is my order?').waitFor(WAIT);
  await send(agent.page, 'On its way!');
  await message(visitor.page, 'On its way!').waitFor(WAIT);
  await agent.page.screenshot({ path: `${shots}/agent.png` });

  // Carol signs in through the identity provider's hosted page.
  const carol = await browser.newContext();
  const page = await watched(carol, 'Carol');
  await page.goto(base);
  await page.getByRole('button', { name: 'Sign in with your provider' }).click();
  await page.locator('#who', { hasText: 'Carol' }).waitFor(WAIT);
  if (new URL(page.url()).search) throw new Error(`the code stays in the address: ${page.url()}`);
  await page.locator('#session-list').waitFor({ state: 'attached', ...WAIT });

  // Dave uses the client from another origin, as from a static host in front of a
  // deployed stack: every REST call is cross-origin (a preflight, then the call).
  const remote = await browser.newContext();
  const away = await watched(remote, 'Dave');
  await away.goto(`http://127.0.0.1:${elsewhere.address().port}/`);
  const now = Math.floor(Date.now() / 1000);
  await away.getByLabel('Or paste a token').fill(idToken({ sub: 'dave', name: 'Dave', iat: now, exp: now + 3600 }));
  await away.getByRole('button', { name: 'Use this token' }).click();
  await away.getByLabel('Title').fill('Elsewhere');
  await away.getByRole('button', { name: 'Start' }).click();
  await away.locator('#connection', { hasText: 'connected' }).waitFor(WAIT);
  await send(away, 'Hello from another origin');
  await message(away, 'Hello from another origin').waitFor(WAIT);
  await away.locator('#session-list button', { hasText: 'Elsewhere' }).waitFor(WAIT);

  await ann.page.goto(base);
  await openChat(ann.page, 'Lunch');
  await ann.page.screenshot({ path: `${shots}/chat.png` });
} catch (error) {
  problems.push(`failed: ${error.stack ?? error}`);
} finally {
  await browser.close();
  identity.close();
  elsewhere.close();
}

if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log('the web client works in Chromium');
