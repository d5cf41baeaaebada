import assert from "node:assert/strict";
import { test } from "node:test";

import { Connection } from "../../static/notify/connection.js";
import { cursorAt, FakeStreamServer, settle, waitFor } from "./fakes.js";

function connect(server, extra = {}) {
  const frames = [];
  const states = [];
  const connection = new Connection({
    url: "ws://127.0.0.1:8000/ws/notifications/",
    userId: server.userId,
    createSocket: server.createSocket,
    minBackoffMs: 4,
    maxBackoffMs: 40,
    onFrame: (frame) => frames.push(frame),
    onState: (state) => states.push(state),
    ...extra,
  });
  connection.start();
  return { connection, frames, states, stateNames: () => states.map((s) => s.state) };
}

test("the first connect resumes from the welcome cursor, later ones from the last event's cursor", async () => {
  const server = new FakeStreamServer();
  server.publish();
  const { connection, stateNames } = connect(server);
  await waitFor(() => stateNames().includes("connected"), "connected");
  assert.deepEqual(server.sockets[0].sent[0], { type: "resume", cursor: cursorAt(1) });
  server.publish();
  server.publish();
  await waitFor(() => connection.cursor === cursorAt(3), "cursor at event 3");
  server.crash();
  await waitFor(() => server.sockets.length === 2 && server.sockets[1].sent.length > 0, "a second resume");
  assert.deepEqual(server.sockets[1].sent[0], { type: "resume", cursor: cursorAt(3) });
  connection.stop();
});

test("events published while reconnecting are replayed in order on resume", async () => {
  const server = new FakeStreamServer();
  const { connection, frames, stateNames } = connect(server);
  await waitFor(() => stateNames().includes("connected"), "connected");
  server.publish();
  server.crash();
  server.publish();
  server.publish();
  await waitFor(() => frames.filter((f) => f.type === "event").length === 3, "three events");
  assert.deepEqual(frames.filter((f) => f.type === "event").map((f) => f.id), ["e1", "e2", "e3"]);
  assert.ok(stateNames().includes("reconnecting"));
  connection.stop();
});

test("a reset goes on from the connection's welcome cursor", async () => {
  const server = new FakeStreamServer();
  server.publish();
  const { connection, frames } = connect(server, { cursor: cursorAt(99) });
  await waitFor(() => frames.some((f) => f.type === "reset"), "reset");
  assert.equal(connection.cursor, cursorAt(1));
  connection.stop();
});

test("4401 and 4000 stop with signed-out and the code, and never reconnect", async () => {
  for (const code of [4401, 4000]) {
    const server = new FakeStreamServer();
    server.refuseWith = code;
    const { states } = connect(server);
    await waitFor(() => states.some((s) => s.state === "signed-out"), "signed-out");
    assert.equal(states.at(-1).code, code);
    await settle();
    await new Promise((resolve) => setTimeout(resolve, 60));
    assert.equal(server.sockets.length, 1, `reconnected after ${code}`);
  }
});

test("4429 waits the long flood backoff, other codes the short jittered one", async () => {
  const server = new FakeStreamServer();
  server.refuseWith = 4429;
  const { connection, states } = connect(server, { floodBackoffMs: 12345 });
  await waitFor(() => states.some((s) => s.retryInMs), "a retry");
  assert.equal(states.find((s) => s.retryInMs).retryInMs, 12345);
  connection.stop();

  const other = new FakeStreamServer();
  other.refuseWith = 1011;
  const second = connect(other);
  await waitFor(() => second.states.some((s) => s.retryInMs), "a retry");
  const delay = second.states.find((s) => s.retryInMs).retryInMs;
  assert.ok(delay >= 2 && delay <= 4, `first retry ${delay} ms is not within [min/2, min]`);
  second.connection.stop();
});

test("1013 (an instance shedding a reconnect storm) backs off with jitter from busyBackoffMs, then retries", async () => {
  const server = new FakeStreamServer();
  server.refuseWith = 1013;
  const delays = new Set();
  for (let i = 0; i < 12; i += 1) {
    const { connection, states } = connect(server, { busyBackoffMs: 200, maxBackoffMs: 40 });
    await waitFor(() => states.some((s) => s.retryInMs), "a retry");
    const delay = states.find((s) => s.retryInMs).retryInMs;
    assert.ok(delay >= 100 && delay <= 200, `first retry after 1013 in ${delay} ms, not within [100, 200]`);
    delays.add(delay);
    connection.stop();
  }
  assert.ok(delays.size > 3, `clients shed together come back at ${delays.size} distinct times only`);
});

test("a pong that does not come in time drops the connection and reconnects", async () => {
  const server = new FakeStreamServer({ heartbeat: 0.001 });
  server.pongs = false;
  const { connection } = connect(server, { pongTimeoutMs: 20 });
  await waitFor(() => server.sockets.length >= 2, "a second socket");
  assert.ok(server.sockets[0].sent.some((frame) => frame.type === "ping"));
  assert.equal(server.sockets[0].readyState, 3);
  connection.stop();
});

test("a welcome for another user ends this stream as signed out", async () => {
  const server = new FakeStreamServer({ userId: 8 });
  const { states } = connect(server, { userId: 7 });
  await waitFor(() => states.some((s) => s.state === "signed-out"), "signed-out");
  assert.equal(states.at(-1).code, 4000);
  assert.equal(server.sockets[0].sent.length, 0, "resumed another user's stream");
});
