import assert from "node:assert/strict";
import { test } from "node:test";

import { StreamHub } from "../../static/notify/hub.js";
import { RecentEvents } from "../../static/notify/recent-events.js";
import { SeenIds } from "../../static/notify/seen-ids.js";
import { TabStream } from "../../static/notify/tab-stream.js";
import { cursorAt } from "./fakes.js";

const event = (seq) => ({ type: "event", id: `e${seq}`, cursor: cursorAt(seq), kind: "announcement", title: `t${seq}` });

function tab(id = "t1", since = 0) {
  const frames = [];
  const stream = new TabStream({ id, since, deliver: { frame: (frame) => frames.push(frame), state() {} }, now: () => 1000 });
  return { stream, frames, ids: () => frames.filter((f) => f.type === "event").map((f) => f.id) };
}

test("SeenIds answers true once per id and forgets the oldest past its limit", () => {
  const seen = new SeenIds(3);
  assert.deepEqual(["a", "b", "a", "c", "d"].map((id) => seen.add(id)), [true, true, false, true, true]);
  assert.equal(seen.has("a"), false, "the oldest id was kept past the limit");
  assert.equal(seen.add("d"), false);
});

test("the hub passes an event id once, however often the connection brings it", () => {
  const sent = [];
  const hub = new StreamHub({ connect: () => ({}), broadcast: (m) => sent.push(m) });
  for (const seq of [1, 2, 2, 1, 3]) hub.pass(event(seq));
  assert.deepEqual(sent.map((m) => m.frame.id), ["e1", "e2", "e3"]);
});

test("a tab drops an event it already passed, from live frames or from a greeting", () => {
  const { stream, ids } = tab();
  stream.greetSelf({ reset: false });
  for (const seq of [1, 2, 1]) stream.receive({ op: "frame", frame: event(seq), at: 5, cursor: cursorAt(seq) });
  stream.receive({ op: "greeting", to: "t1", events: [{ frame: event(2), at: 5 }], reset: false });
  assert.deepEqual(ids(), ["e1", "e2"]);
});

test("frames heard before the greeting wait for it, so the greeting's older events come first", () => {
  const { stream, ids } = tab("t2");
  stream.receive({ op: "frame", frame: event(3), at: 30, cursor: cursorAt(3) });
  stream.receive({ op: "greeting", to: "someone-else", events: [], reset: false });
  assert.deepEqual(ids(), [], "passed before its greeting");
  const events = [1, 2, 3].map((seq) => ({ frame: event(seq), at: seq * 10 }));
  stream.receive({ op: "greeting", to: "t2", events, reset: false, cursor: cursorAt(3) });
  stream.receive({ op: "frame", frame: event(4), at: 40, cursor: cursorAt(4) });
  assert.deepEqual(ids(), ["e1", "e2", "e3", "e4"]);
  assert.equal(stream.cursor, cursorAt(4));
});

test("recent events answer what came since a time, or null once some of it is forgotten", () => {
  const recent = new RecentEvents({ limit: 2 });
  recent.add(event(1), 10);
  recent.add(event(2), 20);
  assert.deepEqual(recent.since(15).map((e) => e.frame.id), ["e2"]);
  recent.add(event(3), 30);
  assert.equal(recent.since(10), null);
  assert.deepEqual(recent.since(11).map((e) => e.frame.id), ["e2", "e3"]);
});
