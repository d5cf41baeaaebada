/**
 * EventStreamConnection: the user's stream over Server-Sent Events (`/api/v1/stream/`, PROTOCOL.md section 4.4).
 *
 * The same owner interface as Connection (connection.js): `onFrame(frame)`
 * with section-1 frames (welcome, event, reset, read; `cursor` moved past
 * each), `onState({state, retryInMs, code})`, `start()`, `stop()`,
 * `send(frame)`, `online()`, `offline()`. An `ack` goes over REST
 * (`POST /api/v1/notifications/read/` with the CSRF token). It reconnects by
 * itself, with backoff and `?cursor=` its own cursor, rather than letting
 * EventSource retry with `Last-Event-ID`: one cursor whatever the transport.
 * `session-ended` stops it as "signed-out" 4000; a failed stream whose
 * session is gone (the REST probe answers 401 or 403) as "signed-out" 4401.
 * DOM-free: it runs in the shared worker too.
 */

import { backoffDelay } from "./backoff.js";
import { CLOSE_NOT_AUTHENTICATED, CLOSE_SESSION_ENDED, CONNECTION_DEFAULTS } from "./connection.js";

export const EVENT_KINDS = ["request.status", "announcement"];
const READ_PATH = "/api/v1/notifications/read/";
const SESSION_PROBE_PATH = "/api/v1/notifications/?page_size=1";

/** Return the stream URL of `path` on the origin of `location`. */
export function streamUrl(location, path) {
  return `${location.protocol}//${location.host}${path}`;
}

/** Return the CSRF token in a `document.cookie` string ("" without one). */
export function csrfTokenOf(cookies) {
  const match = (cookies ?? "").match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function originOf(url) {
  return new URL(url).origin;
}

/** Return the REST calls the stream needs: mark read, and whether the session still signs in (null: unknown). */
export function restCalls(url, csrfToken, fetchImpl = globalThis.fetch) {
  const origin = originOf(url);
  return {
    postRead: (eventId) =>
      fetchImpl(origin + READ_PATH, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken },
        body: JSON.stringify({ up_to: eventId }),
      }).catch(() => null),
    checkSession: () =>
      fetchImpl(origin + SESSION_PROBE_PATH, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(
        (answer) => (answer.status === 401 || answer.status === 403 ? false : answer.ok ? true : null),
        () => null,
      ),
  };
}

export class EventStreamConnection {
  constructor({ url, userId, cursor = null, onFrame, onState, createEventSource, rest, isOnline, random, ...options }) {
    this.url = url;
    this.userId = String(userId);
    this.cursor = cursor;
    this.onFrame = onFrame;
    this.onState = onState;
    this.createEventSource = createEventSource ?? ((at) => new EventSource(at));
    this.rest = rest;
    this.isOnline = isOnline ?? (() => globalThis.navigator?.onLine !== false);
    this.random = random ?? Math.random;
    this.options = { ...CONNECTION_DEFAULTS, ...options };
    this.source = null;
    this.welcome = null;
    this.attempt = 0;
    this.stopped = true;
    this.retry = null;
  }

  start() {
    if (!this.stopped) return this;
    this.stopped = false;
    this.open();
    return this;
  }

  stop(state = "stopped", extra = {}) {
    this.stopped = true;
    clearTimeout(this.retry);
    this.source?.close();
    this.source = null;
    this.onState({ state, ...extra });
  }

  /** Send an `ack` over REST (the stream carries nothing to the server); other frames are not sent. */
  send(frame) {
    if (frame?.type !== "ack" || this.stopped) return false;
    this.rest.postRead(frame.id);
    return true;
  }

  online() {
    if (!this.stopped && !this.source) this.openSoon(0);
  }

  offline() {
    if (this.stopped) return;
    clearTimeout(this.retry);
    this.source?.close();
    this.source = null;
    this.onState({ state: "offline" });
  }

  /** Return the URL that resumes after `cursor` (none yet: live from the welcome). */
  urlAfter(cursor) {
    if (!cursor) return this.url;
    return `${this.url}${this.url.includes("?") ? "&" : "?"}cursor=${encodeURIComponent(cursor)}`;
  }

  open() {
    clearTimeout(this.retry);
    if (this.stopped) return;
    if (!this.isOnline()) return this.onState({ state: "offline" });
    this.onState({ state: this.attempt === 0 ? "connecting" : "reconnecting", retryInMs: 0 });
    const source = this.createEventSource(this.urlAfter(this.cursor));
    const on = (name, handler) =>
      source.addEventListener(name, (message) => source === this.source && this.take(handler, message.data));
    on("welcome", (frame) => this.welcomed(frame));
    for (const kind of EVENT_KINDS) on(kind, (frame) => this.event(frame));
    on("reset", ({ reason }) => this.reset(reason));
    on("read", (frame) => this.onFrame(frame));
    on("session-ended", () => this.stop("signed-out", { code: CLOSE_SESSION_ENDED }));
    source.onerror = () => source === this.source && this.failed();
    this.source = source;
  }

  take(handler, data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame && typeof frame === "object") handler(frame);
  }

  welcomed(frame) {
    if (String(frame.user?.id) !== this.userId) return this.stop("signed-out", { code: CLOSE_SESSION_ENDED });
    this.welcome = frame;
    this.cursor ??= frame.cursor;
    this.attempt = 0;
    this.onFrame(frame);
    this.onState({ state: "connected" });
  }

  event(frame) {
    if (frame.type !== "event" || typeof frame.cursor !== "string") return;
    this.cursor = frame.cursor;
    this.onFrame(frame);
  }

  reset(reason) {
    // Past the history: go on from this stream's welcome cursor; tabs refetch the rest over REST.
    this.cursor = this.welcome?.cursor ?? this.cursor;
    this.onFrame({ type: "reset", reason });
  }

  failed() {
    this.source.close();
    this.source = null;
    const { minBackoffMs, maxBackoffMs } = this.options;
    const delayMs = backoffDelay(this.attempt++, minBackoffMs, maxBackoffMs, this.random);
    this.onState({ state: "reconnecting", retryInMs: delayMs });
    this.rest.checkSession().then((signedIn) => {
      if (this.stopped || this.source) return;
      if (signedIn === false) return this.stop("signed-out", { code: CLOSE_NOT_AUTHENTICATED });
      this.openSoon(delayMs);
    });
  }

  openSoon(delayMs) {
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.open(), delayMs);
  }
}
