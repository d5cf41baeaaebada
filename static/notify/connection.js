/**
 * Connection: the one WebSocket to a user's stream (PROTOCOL.md section 1), kept open.
 *
 * DOM-free, so it runs in the shared worker, in the tab that leads, or in a
 * test with a fake socket. It sends `resume` on every (re)connect, pings
 * every `heartbeat` seconds of `welcome` and drops a connection whose `pong`
 * is late, reconnects with exponential backoff and jitter, waits long after
 * 4429, backs off with jitter from `busyBackoffMs` after 1013 (the instance
 * is shedding a reconnect storm: clients come back spread over seconds, not
 * all at once), and stops on 4401 and 4000 ("signed-out" with the code): acting on
 * those (sending the page to sign-in) is the tabs' part.
 *
 * It tells its owner `onFrame(frame)` for each welcome, event, replayed,
 * reset and read frame (with `cursor` already moved past it) and
 * `onState({state, retryInMs, code})`.
 */

import { backoffDelay } from "./backoff.js";

export const CLOSE_SESSION_ENDED = 4000;
export const CLOSE_NOT_AUTHENTICATED = 4401;
export const CLOSE_FLOODING = 4429;
export const CLOSE_TRY_AGAIN_LATER = 1013;
const SOCKET_OPEN = 1;
const ENDING_CODES = new Set([CLOSE_NOT_AUTHENTICATED, CLOSE_SESSION_ENDED]);

export const CONNECTION_DEFAULTS = {
  minBackoffMs: 500,
  maxBackoffMs: 30000,
  floodBackoffMs: 60000,
  busyBackoffMs: 2000,
  pongTimeoutMs: 10000,
};

/** Return the socket URL of `path` on the origin of `location` (ws: for http:, wss: for https:). */
export function socketUrl(location, path) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

export class Connection {
  constructor({ url, userId, cursor = null, onFrame, onState, createSocket, isOnline, random, ...options }) {
    this.url = url;
    this.userId = String(userId);
    this.cursor = cursor;
    this.onFrame = onFrame;
    this.onState = onState;
    this.createSocket = createSocket ?? ((socketAt) => new WebSocket(socketAt));
    this.isOnline = isOnline ?? (() => globalThis.navigator?.onLine !== false);
    this.random = random ?? Math.random;
    this.options = { ...CONNECTION_DEFAULTS, ...options };
    this.ws = null;
    this.attempt = 0;
    this.stopped = true;
    this.welcome = null;
    this.timers = { retry: null, ping: null, pong: null };
  }

  /** Open the socket and keep it open until `stop()` or a close code that ends the session. */
  start() {
    if (!this.stopped) return this;
    this.stopped = false;
    this.connect();
    return this;
  }

  /** Close the socket and stop reconnecting. */
  stop(state = "stopped", extra = {}) {
    this.stopped = true;
    this.clearTimers();
    if (this.ws) this.ws.close(1000);
    this.ws = null;
    this.setState(state, extra);
  }

  /** Send a client frame; answer false when no socket is open (the frame is not queued). */
  send(frame) {
    if (!this.ws || this.ws.readyState !== SOCKET_OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Reconnect at once: the network is back. */
  online() {
    if (!this.stopped && !this.ws) this.connectSoon(0);
  }

  /** Give up the socket without waiting for the browser to notice: the network is gone. */
  offline() {
    if (!this.stopped) this.dropConnection("offline");
  }

  // --- the socket ------------------------------------------------------------------------

  connect() {
    this.clearTimers();
    if (this.stopped) return;
    if (!this.isOnline()) return this.setState("offline");
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting", { retryInMs: 0 });
    const ws = this.createSocket(this.url);
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
    if (ENDING_CODES.has(code)) return this.stop("signed-out", { code });
    if (this.stopped) return;
    if (code === CLOSE_FLOODING) return this.connectSoon(this.options.floodBackoffMs);
    if (code === CLOSE_TRY_AGAIN_LATER) return this.connectSoon(this.nextBackoff(this.options.busyBackoffMs));
    this.connectSoon(this.nextBackoff());
  }

  nextBackoff(fromMs = this.options.minBackoffMs) {
    const { minBackoffMs, maxBackoffMs } = this.options;
    return backoffDelay(this.attempt++, Math.max(minBackoffMs, fromMs), Math.max(maxBackoffMs, fromMs), this.random);
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
    this[`on_${frame?.type}`]?.(frame);
  }

  on_welcome(frame) {
    // The cookie now belongs to someone else (signed out, then in as another user): this stream is over.
    if (String(frame.user?.id) !== this.userId) return this.stop("signed-out", { code: CLOSE_SESSION_ENDED });
    this.welcome = frame;
    this.cursor ??= frame.cursor;
    this.send({ type: "resume", cursor: this.cursor });
    this.startHeartbeat(frame.heartbeat);
    this.onFrame(frame);
  }

  on_replayed(frame) {
    this.attempt = 0;
    this.setState("connected");
    this.onFrame(frame);
  }

  on_event(frame) {
    this.cursor = frame.cursor;
    this.onFrame(frame);
  }

  on_reset(frame) {
    // The cursor is unknown or too old: go on from this connection's welcome cursor; tabs refetch the rest.
    this.cursor = this.welcome.cursor;
    this.attempt = 0;
    this.setState("connected");
    this.onFrame(frame);
  }

  on_read(frame) {
    this.onFrame(frame);
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

  setState(state, extra = {}) {
    this.onState({ state, ...extra });
  }
}
