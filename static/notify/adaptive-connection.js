/**
 * AdaptiveConnection: the user's stream over the WebSocket, or over Server-Sent Events where handshakes fail.
 *
 * What the StreamHub holds (hub.js): the same interface as Connection, and
 * states carry `transport` ("websocket" or "sse") so that the page can show
 * it. It starts on the WebSocket; when handshakes keep failing
 * (transport-choice.js) it goes on over SSE (event-stream.js) from the same
 * cursor, acks go over REST, and every `webSocketRetryMs` a trial socket
 * checks whether WebSockets get through again: at its welcome the stream
 * moves back, again from the same cursor. The hub drops repeated event ids,
 * so a switch never shows an event twice.
 */

import { CLOSE_NOT_AUTHENTICATED, CLOSE_SESSION_ENDED, Connection } from "./connection.js";
import { EventStreamConnection, restCalls } from "./event-stream.js";
import { TRANSPORT_DEFAULTS, TransportChoice } from "./transport-choice.js";

const ENDING_CODES = new Set([CLOSE_NOT_AUTHENTICATED, CLOSE_SESSION_ENDED]);
const FINAL_STATES = new Set(["signed-out", "stopped"]);

/** A Connection that tells whether each socket closed before its welcome (`onClosed(code, beforeWelcome)`). */
class WatchedConnection extends Connection {
  constructor({ onClosed, ...options }) {
    super(options);
    this.onClosed = onClosed;
    this.welcomed = false;
  }

  connect() {
    this.welcomed = false;
    super.connect();
  }

  on_welcome(frame) {
    this.welcomed = true;
    super.on_welcome(frame);
  }

  closed(ws, code) {
    // True: the owner moved the stream to another transport; this connection is done.
    if (ws === this.ws && !this.stopped && !ENDING_CODES.has(code) && this.onClosed(code, !this.welcomed)) return;
    super.closed(ws, code);
  }
}

export class AdaptiveConnection {
  constructor({ cursor = null, onFrame, onState, streamUrl, csrfToken = "", createEventSource, rest, ...options }) {
    const { failuresBeforeFallback, webSocketRetryMs, probeTimeoutMs, ...socketOptions } = { ...TRANSPORT_DEFAULTS, ...options };
    this.startCursor = cursor;
    this.onFrame = onFrame;
    this.onState = onState;
    this.socketOptions = socketOptions;
    this.createSocket = socketOptions.createSocket ?? ((at) => new WebSocket(at));
    this.webSocketRetryMs = webSocketRetryMs;
    this.probeTimeoutMs = probeTimeoutMs;
    const canFallBack = Boolean(streamUrl) && (createEventSource || typeof globalThis.EventSource === "function");
    this.choice = new TransportChoice({ failuresBeforeFallback, canFallBack });
    this.streamOptions = {
      ...socketOptions,
      url: streamUrl,
      createEventSource,
      rest: rest ?? (streamUrl ? restCalls(streamUrl, csrfToken) : null),
    };
    this.active = null;
    this.stopped = true;
    this.probe = null;
    this.probeTimer = null;
  }

  /** Return the transport in use: "websocket" or "sse". */
  get transport() {
    return this.choice.transport;
  }

  get cursor() {
    return this.active?.cursor ?? this.startCursor;
  }

  start() {
    if (!this.stopped) return this;
    this.stopped = false;
    this.use(this.choice.transport);
    return this;
  }

  stop(state = "stopped", extra = {}) {
    this.stopped = true;
    this.endProbe();
    if (this.active && !this.active.stopped) this.active.stop(state, extra);
    else this.onState({ state, transport: this.transport, ...extra });
  }

  send(frame) {
    return this.active?.send(frame) ?? false;
  }

  online() {
    this.active?.online();
  }

  offline() {
    this.active?.offline();
  }

  // --- switching -------------------------------------------------------------------------

  use(transport) {
    const cursor = this.cursor;
    const previous = this.active;
    this.active = null; // what the previous one still says is not heard
    previous?.stop();
    const handlers = this.handlersFor(() => connection);
    const connection =
      transport === "sse"
        ? new EventStreamConnection({ ...this.streamOptions, cursor, ...handlers })
        : new WatchedConnection({ ...this.socketOptions, cursor, ...handlers, onClosed: (code, before) => this.socketClosed(code, before) });
    this.active = connection;
    connection.start();
    if (transport === "sse") this.scheduleProbe();
  }

  handlersFor(connectionOf) {
    return {
      onFrame: (frame) => {
        if (connectionOf() !== this.active) return;
        if (frame.type === "welcome" && this.transport === "websocket") this.choice.welcomed();
        this.onFrame(frame);
      },
      onState: (state) => {
        if (connectionOf() !== this.active) return;
        if (FINAL_STATES.has(state.state)) this.stopped = true;
        this.onState({ ...state, transport: this.transport });
      },
    };
  }

  socketClosed(code, beforeWelcome) {
    if (!this.choice.closed(code, beforeWelcome)) return false;
    console.warn("WebSocket handshakes keep failing; the stream goes on over Server-Sent Events");
    this.use("sse");
    return true;
  }

  // --- trying the WebSocket again ----------------------------------------------------------

  scheduleProbe() {
    clearTimeout(this.probeTimer);
    this.probeTimer = setTimeout(() => this.tryWebSocket(), this.webSocketRetryMs);
  }

  tryWebSocket() {
    if (this.stopped || this.transport !== "sse") return;
    const ws = this.createSocket(this.socketOptions.url);
    const timer = setTimeout(() => finish(false), this.probeTimeoutMs);
    const finish = (works) => {
      if (this.probe !== ws) return;
      this.endProbe();
      clearTimeout(timer);
      if (this.stopped || this.transport !== "sse") return;
      if (!works) return this.scheduleProbe();
      this.choice.socketWorksAgain();
      this.use("websocket");
    };
    ws.onmessage = ({ data }) => finish(welcomeIn(data));
    ws.onclose = () => finish(false);
    this.probe = ws;
  }

  endProbe() {
    clearTimeout(this.probeTimer);
    const ws = this.probe;
    this.probe = null;
    if (!ws) return;
    ws.onmessage = ws.onclose = null;
    ws.close(1000);
  }
}

function welcomeIn(data) {
  try {
    return JSON.parse(data)?.type === "welcome";
  } catch {
    return false;
  }
}
