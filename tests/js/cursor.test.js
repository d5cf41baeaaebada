import assert from "node:assert/strict";
import { test } from "node:test";

import { CursorStore } from "../../static/notify/cursor-store.js";
import { StreamHub } from "../../static/notify/hub.js";
import { cursorAt, FakeStorage } from "./fakes.js";

function fakeConnection(cursor) {
  return { cursor, stopped: true, start() { this.stopped = false; }, stop() { this.stopped = true; }, send: () => true };
}

test("the cursor store keeps the cursor per user and falls back to memory when storage throws", () => {
  const storage = new FakeStorage();
  new CursorStore(7, storage).set(cursorAt(4));
  assert.equal(new CursorStore(7, storage).get(), cursorAt(4));
  assert.equal(new CursorStore(8, storage).get(), null);
  const broken = { getItem() { throw new Error("denied"); }, setItem() { throw new Error("full"); } };
  const store = new CursorStore(7, broken);
  store.set(cursorAt(2));
  assert.equal(store.get(), cursorAt(2));
});

test("the hub tells tabs, with every frame, the cursor its connection stands at", () => {
  const sent = [];
  let connection;
  const hub = new StreamHub({ connect: () => (connection = fakeConnection(cursorAt(1))), broadcast: (m) => sent.push(m) });
  hub.start(cursorAt(1));
  connection.cursor = cursorAt(2);
  hub.pass({ type: "event", id: "e2", cursor: cursorAt(2) });
  hub.pass({ type: "read", up_to: "e2", unread: 0 });
  assert.deepEqual(sent.map((m) => m.cursor), [cursorAt(2), cursorAt(2)]);
});

test("a restarted hub resumes from its own cursor, not from the one a tab offers", () => {
  const cursors = [];
  const hub = new StreamHub({
    connect: ({ cursor }) => {
      cursors.push(cursor);
      return fakeConnection(cursor ?? cursorAt(5));
    },
    broadcast() {},
  });
  hub.start(null);
  hub.stop();
  hub.start(cursorAt(1));
  assert.deepEqual(cursors, [null, cursorAt(5)]);
});

test("a greeting carries the events since the tab's page load, and says reset when they are forgotten", () => {
  let now = 100;
  const hub = new StreamHub({ connect: () => fakeConnection(null), broadcast() {}, now: () => now });
  hub.start();
  for (const seq of [1, 2, 3]) {
    now = seq * 100;
    hub.pass({ type: "event", id: `e${seq}`, cursor: cursorAt(seq) });
  }
  const greeting = hub.greet({ from: "t9", since: 150 });
  assert.equal(greeting.to, "t9");
  assert.equal(greeting.reset, false);
  assert.deepEqual(greeting.events.map((e) => e.frame.id), ["e2", "e3"]);
  hub.recent.knownSince = 200;
  assert.equal(hub.greet({ from: "t9", since: 150 }).reset, true);
});
