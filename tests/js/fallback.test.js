import assert from "node:assert/strict";
import { test } from "node:test";

import { AdaptiveConnection } from "../../static/notify/adaptive-connection.js";
import { EventStreamConnection } from "../../static/notify/event-stream.js";
import { StreamHub } from "../../static/notify/hub.js";
import { TransportChoice } from "../../static/notify/transport-choice.js";
import { cursorAt, FakeStreamServer, waitFor } from "./fakes.js";

const STREAM_URL = "http://127.0.0.1:8000/api/v1/stream/";
const CLOSED = 2;

/** An EventSource as the client sees it; `FakeSseServer` drives it. */
class FakeEventSource {
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.listeners = new Map();
    this.onerror = null;
  }

  addEventListener(name, listener) {
    if (!this.listeners.has(name)) this.listeners.set(name, []);
    this.listeners.get(name).push(listener);
  }

  close() {
    this.readyState = CLOSED;
  }

  emit(event, data) {
    queueMicrotask(() => {
      if (this.readyState === CLOSED) return;
      this.readyState = 1;
      for (const listener of this.listeners.get(event) ?? []) listener({ data: JSON.stringify(data) });
    });
  }

  fail() {
    queueMicrotask(() => this.readyState !== CLOSED && this.onerror?.());
  }
}

/** The stream of FakeStreamServer, also served as SSE (section 4.4); its sockets can fail every handshake. */
class FakeSseServer extends FakeStreamServer {
  constructor(options) {
    super(options);
    this.sources = [];
    this.reads = [];
    this.handshakesFail = false;
    this.createEventSource = (url) => this.serve(new FakeEventSource(url));
    this.rest = { postRead: (id) => this.reads.push(id), checkSession: async () => this.signedIn ?? true };
  }

  open(socket) {
    if (this.handshakesFail) return socket.drop(1006); // a proxy without Upgrade: it never opens
    super.open(socket);
  }

  serve(source) {
    this.sources.push(source);
    const cursor = new URL(source.url).searchParams.get("cursor");
    source.emit("welcome", { type: "welcome", user: { id: this.userId, username: "ada" }, cursor: cursorAt(this.events.length), heartbeat: 25 });
    if (cursor !== null && Number(cursor) > this.events.length) source.emit("reset", { reason: "unknown_cursor" });
    else if (cursor !== null) this.events.slice(Number(cursor)).forEach((event) => source.emit(event.kind, event));
    return source;
  }

  get openSources() {
    return this.sources.filter((source) => source.readyState !== CLOSED);
  }

  publish(...args) {
    const event = super.publish(...args);
    this.openSources.forEach((source) => source.emit(event.kind, event));
    return event;
  }
}

function adaptive(server, extra = {}) {
  const frames = [];
  const states = [];
  const connection = new AdaptiveConnection({
    url: "ws://127.0.0.1:8000/ws/notifications/",
    streamUrl: STREAM_URL,
    userId: server.userId,
    createSocket: server.createSocket,
    createEventSource: server.createEventSource,
    rest: server.rest,
    minBackoffMs: 2,
    maxBackoffMs: 8,
    onFrame: (frame) => frames.push(frame),
    onState: (state) => states.push(state),
    ...extra,
  });
  connection.start();
  const events = () => frames.filter((f) => f.type === "event").map((f) => f.id);
  const last = () => states.at(-1);
  return { connection, frames, states, events, last };
}

test("three handshakes failing before open move the stream to SSE; a welcomed socket or a server's close code do not count", () => {
  const choice = new TransportChoice({ failuresBeforeFallback: 3 });
  assert.equal(choice.closed(1006, true), false);
  assert.equal(choice.closed(1006, true), false);
  choice.welcomed();
  assert.equal(choice.closed(1006, true), false);
  assert.equal(choice.closed(1011, true), false, "the server chose to close: the handshake got through");
  assert.equal(choice.closed(1006, false), false, "closed after its welcome: an instance died, not a proxy");
  assert.deepEqual([choice.closed(1006, true), choice.closed(1006, true), choice.closed(1006, true)], [false, false, true]);
  assert.equal(choice.transport, "sse");
  const noEventSource = new TransportChoice({ failuresBeforeFallback: 1, canFallBack: false });
  assert.equal(noEventSource.closed(1006, true), false);
  assert.equal(noEventSource.transport, "websocket");
});

test("behind a proxy without Upgrade the stream goes live over SSE from the stored cursor and says so", async () => {
  const server = new FakeSseServer();
  server.handshakesFail = true;
  server.publish();
  server.publish();
  const { connection, events, last } = adaptive(server, { cursor: cursorAt(1) });
  await waitFor(() => last()?.state === "connected", "connected over SSE");
  assert.deepEqual(last(), { state: "connected", transport: "sse" });
  assert.equal(server.sockets.length, 3, "three failed handshakes, then no more sockets");
  assert.equal(server.sources[0].url, `${STREAM_URL}?cursor=${cursorAt(1)}`);
  await waitFor(() => events().length === 1, "the event after the cursor");
  server.publish();
  await waitFor(() => events().length === 2, "a live event");
  assert.deepEqual(events(), ["e2", "e3"]);
  assert.equal(connection.cursor, cursorAt(3));
  connection.stop();
});

test("over SSE an ack goes over REST, not over a socket", async () => {
  const server = new FakeSseServer();
  server.handshakesFail = true;
  const { connection, last } = adaptive(server);
  await waitFor(() => last()?.transport === "sse" && last()?.state === "connected", "connected over SSE");
  assert.equal(connection.send({ type: "ack", id: "e1" }), true);
  assert.deepEqual(server.reads, ["e1"]);
  assert.equal(connection.send({ type: "ping", ts: 1 }), false, "nothing else goes to the server");
  connection.stop();
});

test("a trial socket that gets its welcome moves the stream back to the WebSocket from the same cursor, each event once", async () => {
  const server = new FakeSseServer();
  server.handshakesFail = true;
  const passed = [];
  const hub = new StreamHub({
    connect: (handlers) =>
      new AdaptiveConnection({
        url: "ws://127.0.0.1:8000/ws/notifications/",
        streamUrl: STREAM_URL,
        userId: server.userId,
        createSocket: server.createSocket,
        createEventSource: server.createEventSource,
        rest: server.rest,
        minBackoffMs: 2,
        maxBackoffMs: 8,
        webSocketRetryMs: 30,
        ...handlers,
      }),
    broadcast: (message) => passed.push(message),
  });
  hub.start(cursorAt(0));
  await waitFor(() => hub.state.transport === "sse" && hub.state.state === "connected", "live over SSE");
  server.publish();
  await waitFor(() => hub.cursor === cursorAt(1), "the SSE event");
  server.handshakesFail = false;
  await waitFor(() => hub.state.transport === "websocket" && hub.state.state === "connected", "back on the WebSocket");
  assert.equal(server.openSources.length, 0, "the EventSource is closed");
  const resume = server.open_sockets.at(-1).sent.find((frame) => frame.type === "resume");
  assert.deepEqual(resume, { type: "resume", cursor: cursorAt(1) });
  server.publish();
  await waitFor(() => hub.cursor === cursorAt(2), "a live event over the socket");
  const ids = passed.filter((m) => m.op === "frame" && m.frame.type === "event").map((m) => m.frame.id);
  assert.deepEqual(ids, ["e1", "e2"]);
  hub.stop();
});

test("a trial socket that fails leaves the stream on SSE and is tried again later", async () => {
  const server = new FakeSseServer();
  server.handshakesFail = true;
  const { connection, last } = adaptive(server, { webSocketRetryMs: 10 });
  await waitFor(() => last()?.state === "connected", "live over SSE");
  const before = server.sockets.length;
  await waitFor(() => server.sockets.length >= before + 2, "two trial sockets");
  assert.equal(connection.transport, "sse");
  assert.equal(server.openSources.length, 1);
  connection.stop();
  assert.equal(server.openSources.length, 0);
});

function sseOnly(server, extra = {}) {
  const frames = [];
  const states = [];
  const connection = new EventStreamConnection({
    url: STREAM_URL,
    userId: server.userId,
    createEventSource: server.createEventSource,
    rest: server.rest,
    minBackoffMs: 2,
    maxBackoffMs: 8,
    onFrame: (frame) => frames.push(frame),
    onState: (state) => states.push(state),
    ...extra,
  }).start();
  return { connection, frames, states, last: () => states.at(-1) };
}

test("a failed stream reconnects with its own cursor, not EventSource's retry", async () => {
  const server = new FakeSseServer();
  const { connection, last } = sseOnly(server);
  await waitFor(() => last()?.state === "connected", "connected");
  server.publish();
  await waitFor(() => connection.cursor === cursorAt(1), "an event");
  server.sources[0].fail();
  await waitFor(() => server.sources.length === 2, "a new EventSource");
  assert.equal(server.sources[0].readyState, CLOSED);
  assert.equal(server.sources[1].url, `${STREAM_URL}?cursor=${cursorAt(1)}`);
  connection.stop();
});

test("session-ended stops the stream as signed-out 4000; a failure with the session gone as 4401", async () => {
  const server = new FakeSseServer();
  const ended = sseOnly(server);
  await waitFor(() => ended.last()?.state === "connected", "connected");
  server.sources[0].emit("session-ended", { reason: "session_ended" });
  await waitFor(() => ended.last()?.state === "signed-out", "signed out");
  assert.deepEqual(ended.last(), { state: "signed-out", code: 4000 });
  assert.equal(server.openSources.length, 0);

  server.signedIn = false;
  const refused = sseOnly(server);
  await waitFor(() => refused.last()?.state === "connected", "connected");
  server.sources.at(-1).fail();
  await waitFor(() => refused.last()?.state === "signed-out", "signed out");
  assert.deepEqual(refused.last(), { state: "signed-out", code: 4401 });
});

test("a reset goes on from the welcome cursor and reaches the owner as a reset frame", async () => {
  const server = new FakeSseServer();
  const { connection, frames } = sseOnly(server, { cursor: cursorAt(9) });
  await waitFor(() => frames.some((f) => f.type === "reset"), "reset");
  assert.deepEqual(frames.at(-1), { type: "reset", reason: "unknown_cursor" });
  assert.equal(connection.cursor, cursorAt(0));
  connection.stop();
});
