// The web client: sign in, the caller's chats, and one chat live at a time. Plain modules,
// nothing fetched from elsewhere; it talks to the API the config names (config.json next to
// this page: chat-local serves its own, a static host serves a file).

import { Api, claims, putUpload } from './api.js';
import { ChatSocket } from './chat.js';

const $ = (id) => document.getElementById(id);
const REACTION = '👍';

const config = await fetch('config.json')
  .then((r) => (r.ok ? r.json() : {}))
  .catch(() => ({}));
const apiBase = config.api ?? location.origin;
const wsUrl = config.ws ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;

let api = null;
let me = null;
let chat = null;
let current = null;
let typingSent = 0;
let typingTimer = null;
const shown = new Map();
/** Replies stopped before they were done, by id (a reply is stored under its response id). */
const stopped = new Set();

function element(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

function showError(target, error) {
  $(target).textContent = error ? String(error.message ?? error) : '';
}

// ---------------------------------------------------------------- signing in

function signedIn(token) {
  const who = claims(token);
  if (!who?.sub) throw new Error('that is not a token');
  sessionStorage.setItem('token', token);
  api = new Api(apiBase, token);
  me = who;
  $('who').textContent = `${who.name ?? who.sub} (${who.role ?? 'user'})`;
  $('who').hidden = false;
  $('sign-out').hidden = false;
  $('signin').hidden = true;
  $('app').hidden = false;
  // A visitor has one chat, the support session: no list, no new chats.
  document.querySelector('.sessions').hidden = who.role === 'visitor';
  if (who.role === 'visitor') {
    startSupport(who.org);
    return;
  }
  loadSessions();
  loadChatbots();
  if (who.role === 'agent' && who.org) {
    $('queue-section').hidden = false;
    loadQueue();
    setInterval(loadQueue, 15000);
  }
}

/** An agent's queue: the business's open support sessions; opening one joins it. */
async function loadQueue() {
  try {
    const waiting = await api.supportQueue(me.org);
    $('queue').replaceChildren(
      ...waiting.map((session) => {
        const button = element('button', { type: 'button', textContent: `visitor ${session.owner_id.slice(-6)} · ${new Date(session.created_at).toLocaleTimeString()}` });
        button.dataset.session = session.id;
        button.addEventListener('click', async () => {
          try {
            const { session: joined } = await api.join(session.id);
            await openSession(joined);
            loadSessions();
          } catch (error) {
            showError('chat-error', error);
          }
        });
        return element('li', {}, button);
      }),
    );
  } catch (error) {
    showError('chat-error', error);
  }
}

$('queue-refresh').addEventListener('click', () => loadQueue());

/** Starts (or, with the visitor token kept, resumes) a support chat with `business`. */
async function startSupport(business) {
  const token = sessionStorage.getItem('token');
  const visitor = claims(token ?? '')?.role === 'visitor';
  const response = await fetch(`${apiBase}/sessions/start`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(visitor ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ business_id: business }),
  });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new Error(body?.error?.message ?? `HTTP ${response.status}`);
  if (!visitor) {
    signedIn(body.visitor_token);
    return;
  }
  openSession(body.session);
}

$('support-start').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    sessionStorage.removeItem('token');
    await startSupport(new FormData(event.target).get('business').trim());
  } catch (error) {
    showError('signin-error', error);
  }
});

$('dev-signin').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const name = form.get('name').trim();
  const sub = name.toLowerCase().replace(/[^a-z0-9_.-]+/g, '-').replace(/^-+|-+$/g, '') || 'user';
  try {
    const response = await fetch(`${apiBase}/_local/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub, name, role: form.get('role'), org: form.get('org').trim() || null }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body?.error?.message ?? `HTTP ${response.status}`);
    signedIn(body.token);
  } catch (error) {
    showError('signin-error', error);
  }
});

// Signing in through the identity provider's hosted page: OAuth 2.0's code flow with
// PKCE (a public client: no secret), ending with the provider's ID token.

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function redirectUri() {
  return location.origin + location.pathname;
}

async function oidcStart() {
  const { authorize_url: authorize, client_id: client, scope } = config.oidc;
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem('oidc', JSON.stringify({ verifier, state }));
  const url = new URL(authorize);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: client,
    redirect_uri: redirectUri(),
    scope: scope ?? 'openid',
    state,
    code_challenge: base64url(new Uint8Array(digest)),
    code_challenge_method: 'S256',
  });
  location.assign(url);
}

async function oidcFinish(params) {
  const saved = JSON.parse(sessionStorage.getItem('oidc') ?? 'null');
  sessionStorage.removeItem('oidc');
  history.replaceState(null, '', redirectUri());
  if (params.has('error')) throw new Error(params.get('error_description') ?? params.get('error'));
  if (!saved || params.get('state') !== saved.state) throw new Error('that sign-in was not started here');
  const response = await fetch(config.oidc.token_url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      client_id: config.oidc.client_id,
      code: params.get('code'),
      redirect_uri: redirectUri(),
      code_verifier: saved.verifier,
    }),
  });
  const body = await response.json().catch(() => null);
  if (!response.ok || !body?.id_token) {
    throw new Error(body?.error_description ?? body?.error ?? `the sign-in failed (HTTP ${response.status})`);
  }
  signedIn(body.id_token);
}

$('oidc-signin').addEventListener('click', () => oidcStart().catch((error) => showError('signin-error', error)));

$('token-signin').addEventListener('submit', (event) => {
  event.preventDefault();
  try {
    signedIn(new FormData(event.target).get('token').trim());
  } catch (error) {
    showError('signin-error', error);
  }
});

$('sign-out').addEventListener('click', () => {
  sessionStorage.removeItem('token');
  location.reload();
});

// ---------------------------------------------------------------- the caller's chats

function sessionName(session) {
  if (session.title) return session.title;
  if (session.kind === 'bot') return session.chatbot_name ?? session.chatbot_id ?? 'Bot';
  return `${session.kind} ${session.id.slice(-6)}`;
}

async function loadSessions() {
  try {
    const sessions = await api.sessions();
    sessions.sort((a, b) => b.last_activity_at.localeCompare(a.last_activity_at));
    const list = $('session-list');
    list.replaceChildren(
      ...sessions.map((session) => {
        const button = element('button', { type: 'button', textContent: `${sessionName(session)}${session.status === 'ended' ? ' (ended)' : ''}` });
        button.dataset.session = session.id;
        button.setAttribute('aria-current', String(session.id === current?.id));
        button.addEventListener('click', () => openSession(session));
        return element('li', {}, button);
      }),
    );
  } catch (error) {
    showError('chat-error', error);
  }
}

async function loadChatbots() {
  try {
    const bots = await api.chatbots();
    $('new-session').chatbot.replaceChildren(
      ...bots.map((bot) => element('option', { value: bot.id, textContent: bot.name ?? bot.id })),
    );
  } catch {
    // Without chatbots, bot chats are simply not offered.
  }
}

function kindChanged() {
  const kind = $('new-session').kind.value;
  document.querySelector('.for-bot').hidden = kind !== 'bot';
  document.querySelector('.for-people').hidden = kind === 'bot';
  document.querySelector('.for-group').hidden = kind !== 'group';
}
$('new-session').kind.addEventListener('change', kindChanged);

$('new-session').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  const kind = form.kind.value;
  const body = { kind };
  if (kind === 'bot') body.chatbot_id = form.chatbot.value;
  else body.members = form.members.value.split(',').map((m) => m.trim()).filter(Boolean);
  if (kind === 'group' && form.title.value.trim()) body.title = form.title.value.trim();
  try {
    const { session } = await api.createSession(body);
    form.reset();
    kindChanged();
    await openSession(session);
    loadSessions();
  } catch (error) {
    showError('chat-error', error);
  }
});

// ---------------------------------------------------------------- one chat, live

function openSession(session) {
  chat?.close();
  current = session;
  shown.clear();
  $('messages').replaceChildren();
  $('chat').hidden = false;
  $('chat-title').textContent = sessionName(session);
  $('typing').textContent = '';
  $('older').hidden = true;
  showError('chat-error', null);
  setComposer(session.status !== 'ended');
  for (const button of document.querySelectorAll('#session-list button')) {
    button.setAttribute('aria-current', String(button.dataset.session === session.id));
  }
  chat = new ChatSocket({
    url: wsUrl,
    token: api.token,
    sessionId: session.id,
    onFrame,
    onMessage: (message) => showMessage(message, 'end'),
    onState: (state) => {
      $('connection').textContent = state;
    },
  });
  $('text').focus();
}

function setComposer(open) {
  for (const control of $('composer').elements) control.disabled = !open;
}

function setOnline(online) {
  $('online').textContent = online?.length ? `online: ${online.join(', ')}` : '';
}

function onFrame(frame) {
  switch (frame.type) {
    case 'session_info':
      current = frame.session;
      $('chat-title').textContent = sessionName(frame.session);
      setOnline(frame.session.online);
      break;
    case 'chat_history':
      if (frame.older) {
        for (const message of [...frame.messages].reverse()) showMessage(message, 'start');
      }
      $('older').hidden = !frame.next_cursor;
      $('older').dataset.before = frame.next_cursor ?? '';
      break;
    case 'user_joined':
    case 'user_left':
      setOnline(frame.online);
      break;
    case 'typing_status': {
      const others = (frame.typing ?? []).filter((user) => user !== me.sub);
      $('typing').textContent = others.length ? `${others.join(', ')} typing…` : '';
      break;
    }
    case 'message_updated':
    case 'message_deleted':
    case 'reaction_updated':
      if (shown.has(frame.message.id)) showMessage(frame.message, 'replace');
      break;
    case 'response_start':
      streaming(frame.response_id);
      $('stop').hidden = false;
      break;
    case 'response_chunk':
      streaming(frame.response_id).querySelector('.body').append(frame.chunk);
      break;
    case 'stopped_generation':
      stopped.add(frame.response_id);
    // falls through
    case 'response_complete':
      document.getElementById(`reply-${frame.response_id}`)?.remove();
      $('stop').hidden = true;
      break;
    case 'session_ended':
      $('connection').textContent = `this chat has ended (${frame.reason})`;
      $('stop').hidden = true;
      setComposer(false);
      loadSessions();
      break;
    case 'error':
      showError('chat-error', frame.retry_after_ms ? `${frame.message} (try again in ${Math.ceil(frame.retry_after_ms / 1000)} s)` : frame.message);
      break;
    default:
      break;
  }
}

/** The bubble of a reply being streamed. */
function streaming(responseId) {
  const id = `reply-${responseId}`;
  let item = document.getElementById(id);
  if (!item) {
    item = element('li', { id, className: 'message bot streaming' },
      element('div', { className: 'meta', textContent: 'bot, answering…' }),
      element('div', { className: 'body' }));
    $('messages').append(item);
  }
  item.scrollIntoView({ block: 'end' });
  return item;
}

function showMessage(message, where) {
  const item = renderMessage(message);
  const existing = shown.get(message.id);
  shown.set(message.id, item);
  if (existing) {
    existing.replaceWith(item);
  } else if (where === 'start') {
    $('messages').prepend(item);
  } else if (where === 'end') {
    $('messages').append(item);
    item.scrollIntoView({ block: 'end' });
  }
}

function renderMessage(message) {
  const mine = message.sender_id === me.sub;
  const item = element('li', { className: `message${mine ? ' mine' : ''}${message.is_bot ? ' bot' : ''}` });
  item.dataset.id = message.id;
  item.dataset.seq = message.seq;
  const when = new Date(message.created_at).toLocaleTimeString();
  item.append(element('div', {
    className: 'meta',
    textContent: `${message.sender_name ?? message.sender_id} · ${when}${message.edited ? ' · edited' : ''}${stopped.has(message.id) ? ' · stopped' : message.incomplete ? ' · cut off' : ''}`,
  }));
  item.append(element('div', { className: 'body', textContent: message.deleted ? 'message deleted' : message.content }));
  const file = message.attachment;
  if (file && !message.deleted) {
    if (file.content_type.startsWith('image/')) {
      item.append(element('a', { href: file.url, target: '_blank', rel: 'noopener' },
        element('img', { src: file.url, alt: file.file_name })));
    } else {
      item.append(element('a', { href: file.url, target: '_blank', rel: 'noopener', textContent: `${file.file_name} (${Math.ceil(file.size / 1024)} KB)` }));
    }
  }
  if (message.deleted) return item;
  const reactions = element('div', { className: 'reactions' });
  for (const [emoji, users] of Object.entries(message.reactions ?? {})) {
    const mineToo = users.includes(me.sub);
    const button = element('button', { type: 'button', textContent: `${emoji} ${users.length}` });
    button.setAttribute('aria-pressed', String(mineToo));
    button.setAttribute('aria-label', `${emoji} from ${users.join(', ')}`);
    button.addEventListener('click', () => chat.send({ action: mineToo ? 'unreact' : 'react', message_id: message.id, reaction: emoji }));
    reactions.append(button);
  }
  const actions = element('div', { className: 'actions' });
  if (!(REACTION in (message.reactions ?? {}))) {
    const react = element('button', { type: 'button', textContent: REACTION });
    react.setAttribute('aria-label', `react with ${REACTION}`);
    react.addEventListener('click', () => chat.send({ action: 'react', message_id: message.id, reaction: REACTION }));
    actions.append(react);
  }
  if (mine && !message.is_bot) {
    const edit = element('button', { type: 'button', textContent: 'Edit' });
    edit.addEventListener('click', () => editMessage(message));
    const remove = element('button', { type: 'button', textContent: 'Delete' });
    remove.addEventListener('click', () => chat.send({ action: 'delete', message_id: message.id }));
    actions.append(edit, remove);
  }
  item.append(reactions, actions);
  return item;
}

function editMessage(message) {
  const item = shown.get(message.id);
  const form = element('form', { className: 'edit' });
  const field = element('textarea', { value: message.content, rows: 2, maxLength: 4000 });
  field.setAttribute('aria-label', 'Edit the message');
  form.append(field, element('button', { type: 'submit', textContent: 'Save' }));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    chat.send({ action: 'edit', message_id: message.id, content: field.value });
  });
  item.querySelector('.body').replaceWith(form);
  field.focus();
}

// ---------------------------------------------------------------- writing

$('composer').addEventListener('submit', async (event) => {
  event.preventDefault();
  showError('chat-error', null);
  const text = $('text').value.trim();
  const file = $('file').files[0];
  try {
    if (file) {
      await sendFile(file, text);
    } else if (text) {
      if (!chat.send({ action: 'send', content: text, client_msg_id: crypto.randomUUID() })) {
        throw new Error('offline: the message was not sent');
      }
    } else {
      return;
    }
    $('text').value = '';
    $('file').value = '';
    stopTyping();
  } catch (error) {
    showError('chat-error', error);
  }
});

$('text').addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey) {
    event.preventDefault();
    $('composer').requestSubmit();
  }
});

$('text').addEventListener('input', () => {
  const now = Date.now();
  if (now - typingSent > 3000) {
    typingSent = now;
    chat?.send({ action: 'typing', is_typing: true });
  }
  clearTimeout(typingTimer);
  typingTimer = setTimeout(stopTyping, 4000);
});

function stopTyping() {
  clearTimeout(typingTimer);
  if (typingSent) chat?.send({ action: 'typing', is_typing: false });
  typingSent = 0;
}

async function sendFile(file, caption) {
  const progress = $('upload-progress');
  progress.hidden = false;
  progress.value = 0;
  try {
    const upload = await api.announceUpload(current.id, file);
    await putUpload(upload, file, (percent) => {
      progress.value = percent;
    });
    const kind = file.type.startsWith('image/') ? 'image' : 'file';
    const frame = { action: 'send', kind, attachment_id: upload.attachment_id, client_msg_id: crypto.randomUUID() };
    if (caption) frame.content = caption;
    if (!chat.send(frame)) throw new Error('offline: the file was not sent');
  } finally {
    progress.hidden = true;
  }
}

$('stop').addEventListener('click', () => chat?.send({ action: 'stop' }));

$('older').addEventListener('click', () => {
  const before = $('older').dataset.before;
  if (before) chat?.older(before);
});

// ---------------------------------------------------------------- start

document.getElementById('dev-signin').hidden = !config.dev_tokens;
$('oidc-signin').hidden = !config.oidc;
const returned = new URLSearchParams(location.search);
const saved = sessionStorage.getItem('token');
if (config.oidc && (returned.has('code') || returned.has('error'))) {
  oidcFinish(returned).catch((error) => {
    $('signin').hidden = false;
    showError('signin-error', error);
  });
} else if (saved) {
  try {
    signedIn(saved);
  } catch {
    $('signin').hidden = false;
  }
} else {
  $('signin').hidden = false;
}
kindChanged();
