/**
 * NotificationClient: one user's live stream over /ws/notifications/ (PROTOCOL.md section 1), for one page.
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
 *   state    {state: "connecting"|"connected"|"reconnecting"|"offline"|"signed-out"|"stopped", retryInMs, code,
 *            transport: "websocket"|"sse"}
 *   welcome  the welcome frame          event     an event frame (never the same id twice)
 *   replayed the replayed frame         read      a read frame (this or another tab marked read)
 *   reset    the reset frame, or {reason: "joined_late"}: the page must refetch its state over REST
 *   signedout {code} just before the page is sent to sign-in (4401 at once, 4000 after a pause) — cancelable
 *
 * All tabs of a browser share one connection (sharing.js: a SharedWorker, or
 * the tab elected by Web Locks), so every tab sees every event of the stream
 * exactly once, in cursor order, including the events delivered since its
 * page loaded but before it joined. The connection resumes on every
 * reconnect, backs off with jitter, and drops a connection whose `pong` is
 * late (connection.js). Where WebSocket handshakes keep failing (a proxy
 * that drops `Upgrade`) it goes on over Server-Sent Events from the same
 * cursor, acks over REST, and tries the WebSocket again every few minutes
 * (adaptive-connection.js).
 */

import { CONNECTION_DEFAULTS, CLOSE_NOT_AUTHENTICATED, socketUrl } from "./connection.js";
import { CursorStore } from "./cursor-store.js";
import { csrfTokenOf, streamUrl } from "./event-stream.js";
import { openLink } from "./sharing.js";
import { TabStream } from "./tab-stream.js";
import { TRANSPORT_DEFAULTS } from "./transport-choice.js";

export { CLOSE_FLOODING, CLOSE_NOT_AUTHENTICATED, CLOSE_SESSION_ENDED } from "./connection.js";
export { backoffDelay } from "./backoff.js";
export { CursorStore } from "./cursor-store.js";

const DEFAULTS = {
  path: "/ws/notifications/",
  streamPath: "/api/v1/stream/",
  loginUrl: "/accounts/login/",
  signedOutRedirectMs: 2500,
  ...CONNECTION_DEFAULTS,
  ...TRANSPORT_DEFAULTS,
};

function newTabId() {
  return globalThis.crypto?.randomUUID?.() ?? `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

export class NotificationClient extends EventTarget {
  /** `env` (the page's global scope), `storage`, `createSocket`, `createEventSource` and `since` are for tests. */
  constructor({ userId, env = globalThis, storage, createSocket, createEventSource, since, ...options }) {
    super();
    if (userId === undefined || userId === null) throw new Error("NotificationClient needs {userId}: streams are per user.");
    this.userId = String(userId);
    this.env = env;
    this.options = { ...DEFAULTS, ...options };
    this.cursors = new CursorStore(this.userId, storage ?? env.localStorage);
    this.createSocket = createSocket;
    this.createEventSource = createEventSource;
    this.since = since ?? Math.floor(env.performance?.timeOrigin ?? Date.now());
    this.link = null;
    this.stream = null;
    this.state = "stopped";
    this.onOnline = () => this.link?.online();
    this.onOffline = () => this.link?.offline();
    this.onPageHide = () => this.link && this.leave();
    this.onPageShow = (shown) => shown.persisted && this.join();
  }

  /** Join the browser's connection (opening it if no tab holds it) until `stop()` or the session ends. */
  start() {
    if (this.link) return this;
    this.listen(true);
    this.join();
    return this;
  }

  /** Leave the connection (it closes once no tab uses it) and stop dispatching. */
  stop(state = "stopped", extra = {}) {
    this.listen(false);
    this.leave();
    this.setState(state, extra);
  }

  /** Mark the user's events up to `eventId` read; every tab of the user then gets a `read` frame. */
  ack(eventId) {
    return this.link ? this.link.send({ type: "ack", id: eventId }) : false;
  }

  /** Return the cursor of the last event delivered to this tab (or the welcome cursor). */
  get cursor() {
    return this.stream?.cursor ?? this.cursors.get();
  }

  /** Return the transport the stream is live on: "websocket", "sse", or null before any state. */
  get transport() {
    return this.lastTransport ?? null;
  }

  /** Return how this tab reaches the connection: "shared-worker", "leader", "follower" or "own". */
  get sharing() {
    return this.link?.mode ?? null;
  }

  join() {
    this.stream = new TabStream({
      id: newTabId(),
      since: this.since,
      deliver: { frame: (frame, cursor) => this.took(frame, cursor), state: (state) => this.tookState(state) },
    });
    const url = socketUrl(this.env.location, this.options.path);
    const { minBackoffMs, maxBackoffMs, floodBackoffMs, pongTimeoutMs } = this.options;
    const { failuresBeforeFallback, webSocketRetryMs, probeTimeoutMs } = this.options;
    const options = {
      ...{ minBackoffMs, maxBackoffMs, floodBackoffMs, pongTimeoutMs, failuresBeforeFallback, webSocketRetryMs, probeTimeoutMs },
      streamUrl: streamUrl(this.env.location, this.options.streamPath),
      csrfToken: csrfTokenOf(this.env.document?.cookie),
    };
    const hello = { op: "hello", from: this.stream.id, since: this.since, cursor: this.cursors.get(), url, userId: this.userId, options };
    const connectOptions = { url, userId: this.userId, createSocket: this.createSocket, createEventSource: this.createEventSource, ...options };
    this.link = openLink({ env: this.env, userId: this.userId, stream: this.stream, hello, connectOptions, storedCursor: () => this.cursors.get() });
  }

  leave() {
    this.link?.close();
    this.link = null;
  }

  listen(on) {
    const method = on ? "addEventListener" : "removeEventListener";
    this.env[method]?.("online", this.onOnline);
    this.env[method]?.("offline", this.onOffline);
    this.env[method]?.("pagehide", this.onPageHide);
    this.env[method]?.("pageshow", this.onPageShow);
  }

  // --- what the stream delivers ----------------------------------------------------------

  took(frame, cursor) {
    this.cursors.set(cursor);
    if (frame.type === "event") this.env.notifyDispatchedIds?.push?.(frame.id); // set only by browser tests
    this.emit(frame.type, frame);
  }

  tookState({ state, ...extra }) {
    if (state === "signed-out") return this.goToSignIn(extra.code);
    if (state === "stopped") return; // the holder stopped: only this page's own stop() says so to the page
    this.setState(state, extra);
  }

  goToSignIn(code) {
    this.stop("signed-out", { code });
    const proceed = this.dispatchEvent(new CustomEvent("signedout", { detail: { code }, cancelable: true }));
    if (!proceed) return;
    const delayMs = code === CLOSE_NOT_AUTHENTICATED ? 0 : this.options.signedOutRedirectMs;
    const { pathname, search } = this.env.location;
    const next = encodeURIComponent(pathname + search);
    setTimeout(() => this.env.location.assign(`${this.options.loginUrl}?next=${next}`), delayMs);
  }

  setState(state, extra = {}) {
    this.state = state;
    if (extra.transport) this.lastTransport = extra.transport;
    this.emit("state", { state, ...extra });
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
