/**
 * NotificationClient: one user's live stream over /ws/notifications/ (PROTOCOL.md section 1).
 *
 * Usable by any page, no build step:
 *
 *   import { NotificationClient } from "/static/notify/client.js";
 *   const client = new NotificationClient({ userId: 42 });
 *   client.addEventListener("event", (e) => show(e.detail));        // each event once, in order
 *   client.addEventListener("state", (e) => showState(e.detail));   // {state, retryInMs}
 *   client.start();
 *
 * Events it dispatches (CustomEvent, payload in `detail`):
 *   state    {state: "connecting"|"connected"|"reconnecting"|"offline"|"signed-out"|"stopped", retryInMs, code}
 *   welcome  the welcome frame          event     an event frame (never the same id twice)
 *   replayed the replayed frame         read      a read frame (this or another tab marked read)
 *   reset    the reset frame: the page must refetch its state over REST
 *   signedout {code} just before the page is sent to sign-in (4000) — cancelable
 *
 * What it guarantees: the last cursor seen is kept in localStorage per user,
 * so a reload resumes where the page left off; every (re)connect sends
 * `resume`; a missing `pong` counts as a dead connection; reconnects back off
 * exponentially with jitter; 4401 goes to sign-in, 4000 shows "signed out"
 * then goes to sign-in, 4429 backs off long.
 */

export const CLOSE_SESSION_ENDED = 4000;
export const CLOSE_NOT_AUTHENTICATED = 4401;
export const CLOSE_FLOODING = 4429;

const DEFAULTS = {
  path: "/ws/notifications/",
  loginUrl: "/accounts/login/",
  minBackoffMs: 500,
  maxBackoffMs: 30000,
  floodBackoffMs: 60000,
  pongTimeoutMs: 10000,
  signedOutRedirectMs: 2500,
  seenIdsKept: 2000,
};

/** Return a delay for attempt n: exponential, capped, with "equal jitter" so clients spread out. */
export function backoffDelay(attempt, minMs, maxMs, random = Math.random) {
  const ceiling = Math.min(maxMs, minMs * 2 ** attempt);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/** Keep the last cursor per user in localStorage; survive private mode where storage throws. */
export class CursorStore {
  constructor(userId, storage = globalThis.localStorage) {
    this.key = `notify.cursor.${userId}`;
    this.storage = storage;
    this.memory = null;
  }

  get() {
    try {
      return this.storage.getItem(this.key) ?? this.memory;
    } catch {
      return this.memory;
    }
  }

  set(cursor) {
    this.memory = cursor;
    try {
      this.storage.setItem(this.key, cursor);
    } catch {
      // Storage full or disabled: the in-memory copy still covers reconnects without a reload.
    }
  }
}

/** Remember recent event ids, forgetting the oldest, so duplicates are dropped in bounded memory. */
class SeenIds {
  constructor(limit) {
    this.limit = limit;
    this.ids = new Set();
  }

  /** Return true the first time an id is offered, false afterwards. */
  add(id) {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.limit) this.ids.delete(this.ids.values().next().value);
    return true;
  }
}

export class NotificationClient extends EventTarget {
  constructor({ userId, ...options }) {
    super();
    if (userId === undefined || userId === null) throw new Error("NotificationClient needs {userId}: cursors are kept per user.");
    this.options = { ...DEFAULTS, ...options };
    this.cursors = new CursorStore(userId, this.options.storage);
    this.seen = new SeenIds(this.options.seenIdsKept);
    this.ws = null;
    this.attempt = 0;
    this.stopped = true;
    this.state = "stopped";
    this.welcome = null;
    this.timers = { retry: null, ping: null, pong: null };
    this.onOnline = () => this.connectSoon(0);
    this.onOffline = () => this.dropConnection("offline");
  }

  /** Open the socket (and keep it open) until `stop()` or a close code that ends the session. */
  start() {
    if (!this.stopped) return this;
    this.stopped = false;
    window.addEventListener("online", this.onOnline);
    window.addEventListener("offline", this.onOffline);
    this.connect();
    return this;
  }

  /** Close the socket and stop reconnecting. */
  stop(state = "stopped", extra = {}) {
    this.stopped = true;
    window.removeEventListener("online", this.onOnline);
    window.removeEventListener("offline", this.onOffline);
    this.clearTimers();
    if (this.ws) this.ws.close(1000);
    this.ws = null;
    this.setState(state, extra);
  }

  /** Mark the user's events up to `eventId` read; every tab of the user then gets a `read` frame. */
  ack(eventId) {
    return this.send({ type: "ack", id: eventId });
  }

  /** Return the cursor of the last event seen (or the welcome cursor), as stored. */
  get cursor() {
    return this.cursors.get();
  }

  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // --- the connection --------------------------------------------------------------------

  connect() {
    this.clearTimers();
    if (this.stopped) return;
    if (navigator.onLine === false) {
      this.setState("offline");
      return;
    }
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting", { retryInMs: 0 });
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}${this.options.path}`);
    ws.onmessage = (message) => this.receive(ws, message.data);
    ws.onclose = (close) => this.closed(ws, close.code);
    this.ws = ws;
  }

  connectSoon(delayMs) {
    this.clearTimers();
    if (this.stopped) return;
    this.setState("reconnecting", { retryInMs: delayMs });
    this.timers.retry = setTimeout(() => this.connect(), delayMs);
  }

  /** Give up on the current socket (dead or offline) without waiting for the browser to notice. */
  dropConnection(state) {
    const ws = this.ws;
    this.ws = null;
    this.clearTimers();
    if (ws) {
      ws.onclose = null;
      ws.close();
    }
    if (state === "offline") this.setState("offline");
    else this.connectSoon(this.nextBackoff());
  }

  closed(ws, code) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.clearTimers();
    if (code === CLOSE_NOT_AUTHENTICATED) return this.goToSignIn(code, 0);
    if (code === CLOSE_SESSION_ENDED) return this.goToSignIn(code, this.options.signedOutRedirectMs);
    if (this.stopped) return;
    const delay = code === CLOSE_FLOODING ? this.options.floodBackoffMs : this.nextBackoff();
    this.connectSoon(delay);
  }

  nextBackoff() {
    const delay = backoffDelay(this.attempt, this.options.minBackoffMs, this.options.maxBackoffMs);
    this.attempt += 1;
    return delay;
  }

  goToSignIn(code, delayMs) {
    this.stop("signed-out", { code });
    const proceed = this.dispatchEvent(new CustomEvent("signedout", { detail: { code }, cancelable: true }));
    if (!proceed) return;
    const next = encodeURIComponent(location.pathname + location.search);
    setTimeout(() => location.assign(`${this.options.loginUrl}?next=${next}`), delayMs);
  }

  // --- frames from the server ------------------------------------------------------------

  receive(ws, text) {
    if (ws !== this.ws) return;
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    const handler = this[`on_${frame.type}`];
    if (handler) handler.call(this, frame);
  }

  on_welcome(frame) {
    this.welcome = frame;
    if (!this.cursors.get()) this.cursors.set(frame.cursor);
    this.send({ type: "resume", cursor: this.cursors.get() });
    this.startHeartbeat(frame.heartbeat);
    this.emit("welcome", frame);
  }

  on_replayed(frame) {
    this.attempt = 0;
    this.setState("connected");
    this.emit("replayed", frame);
  }

  on_event(frame) {
    this.cursors.set(frame.cursor);
    if (this.seen.add(frame.id)) this.emit("event", frame);
  }

  on_reset(frame) {
    // Our cursor is unknown or too old: continue from this connection's welcome cursor, refetch the rest.
    this.cursors.set(this.welcome.cursor);
    this.attempt = 0;
    this.setState("connected");
    this.emit("reset", frame);
  }

  on_read(frame) {
    this.emit("read", frame);
  }

  on_pong() {
    clearTimeout(this.timers.pong);
    this.timers.pong = null;
  }

  on_error(frame) {
    console.warn("notification socket refused a frame:", frame.code, frame.message);
  }

  // --- heartbeat -------------------------------------------------------------------------

  startHeartbeat(heartbeatSecs) {
    const everyMs = Math.max(1, heartbeatSecs || 25) * 1000;
    clearInterval(this.timers.ping);
    this.timers.ping = setInterval(() => this.ping(), everyMs);
  }

  ping() {
    if (this.timers.pong) return;
    if (!this.send({ type: "ping", ts: Date.now() })) return;
    this.timers.pong = setTimeout(() => this.dropConnection("dead"), this.options.pongTimeoutMs);
  }

  clearTimers() {
    clearTimeout(this.timers.retry);
    clearInterval(this.timers.ping);
    clearTimeout(this.timers.pong);
    this.timers = { retry: null, ping: null, pong: null };
  }

  // --- telling the page ------------------------------------------------------------------

  setState(state, extra = {}) {
    this.state = state;
    this.emit("state", { state, ...extra });
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
