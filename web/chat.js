// One session's WebSocket: the welcome, messages applied in `seq` order exactly once,
// `resume` after a gap or a reconnect, a ping under API Gateway's 10-minute idle limit,
// and reconnecting after its 2-hour limit or a network change (docs/protocol.md,
// "Reconnecting").

const PING_EVERY_MS = 5 * 60 * 1000;
const RETRY_MS = [500, 1000, 2000, 5000, 10000];

export class ChatSocket {
  /**
   * `onFrame(frame)` gets every frame but messages; `onMessage(message)` each message once,
   * in order; `onState(text)` the connection's state.
   */
  constructor({ url, token, sessionId, onFrame, onMessage, onState }) {
    Object.assign(this, { url, token, sessionId, onFrame, onMessage, onState });
    this.applied = 0;
    this.waiting = new Map();
    this.welcomed = false;
    this.closing = false;
    this.attempt = 0;
    this.open();
  }

  open() {
    const url = new URL(this.url);
    url.searchParams.set('token', this.token);
    // Bound at once (a visitor's socket must name its session); after a reconnect, the
    // welcome's latest messages and `resume`'s missed ones are dropped where already shown.
    url.searchParams.set('session_id', this.sessionId);
    const socket = new WebSocket(url);
    this.socket = socket;
    this.onState(this.welcomed ? 'reconnecting…' : 'connecting…');
    socket.onopen = () => {
      this.attempt = 0;
      this.onState('connected');
      if (this.welcomed) this.resume();
      this.pinger = setInterval(() => this.send({ action: 'ping' }), PING_EVERY_MS);
    };
    socket.onmessage = (event) => this.receive(JSON.parse(event.data));
    socket.onclose = () => {
      clearInterval(this.pinger);
      if (this.closing) return;
      if (!navigator.onLine) {
        // No network: try again as soon as there is one, not in vain before.
        this.onState('offline; reconnecting when the network is back');
        addEventListener('online', () => this.open(), { once: true });
        return;
      }
      const wait = RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)];
      this.attempt += 1;
      this.onState(`disconnected; reconnecting in ${Math.round(wait / 1000)} s`);
      this.retry = setTimeout(() => this.open(), wait);
    };
  }

  receive(frame) {
    switch (frame.type) {
      case 'chat_history':
        if (this.askedOlder) {
          // A page before what is shown: not part of the live order.
          this.askedOlder = false;
          this.onFrame({ ...frame, older: true });
          return;
        }
        // The welcome: the latest messages, in order.
        this.welcomed = true;
        this.onFrame(frame);
        for (const message of frame.messages) this.apply(message);
        return;
      case 'chat_message':
        this.apply(frame.message);
        return;
      case 'response_complete':
      case 'stopped_generation':
        this.onFrame(frame);
        if (frame.message) this.apply(frame.message);
        return;
      case 'session_ended':
        this.closing = true;
        this.onFrame(frame);
        return;
      case 'pong':
        return;
      default:
        this.onFrame(frame);
    }
  }

  /** Shows a message once and in order; asks for what is missing before it. */
  apply(message) {
    if (typeof message.seq !== 'number' || message.seq <= this.applied) return;
    if (message.seq > this.applied + 1) {
      if (this.waiting.size === 0) this.resume();
      this.waiting.set(message.seq, message);
      return;
    }
    this.applied = message.seq;
    this.onMessage(message);
    const next = this.waiting.get(this.applied + 1);
    this.waiting.delete(this.applied + 1);
    if (next) this.apply(next);
  }

  /** Asks for the page of messages before `before` (a message id). */
  older(before) {
    this.askedOlder = this.send({ action: 'history', before });
  }

  resume() {
    this.send({ action: 'resume', session_id: this.sessionId, after_seq: this.applied });
  }

  send(frame) {
    if (this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  close() {
    this.closing = true;
    clearTimeout(this.retry);
    clearInterval(this.pinger);
    this.socket?.close();
  }
}
