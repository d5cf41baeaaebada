import assert from "node:assert/strict";
import { test } from "node:test";

import { SeenMarker } from "../../static/notify/seen-marker.js";

class FakeDocument extends EventTarget {
  constructor(visibilityState) {
    super();
    this.visibilityState = visibilityState;
  }

  show() {
    this.visibilityState = "visible";
    this.dispatchEvent(new Event("visibilitychange"));
  }
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function marker(visibilityState) {
  const doc = new FakeDocument(visibilityState);
  const marked = [];
  const seen = new SeenMarker({ doc, delayMs: 5, markRead: async (id) => marked.push(id) });
  return { doc, marked, seen };
}

test("events shown in a visible tab are marked read once, up to the newest of a burst", async () => {
  const { marked, seen } = marker("visible");
  for (const id of ["e1", "e2", "e3"]) seen.shown({ id });
  await pause(20);
  assert.deepEqual(marked, ["e3"]);
  seen.shown({ id: "e4" });
  await pause(20);
  assert.deepEqual(marked, ["e3", "e4"]);
});

test("events received in a hidden tab wait until the tab is shown", async () => {
  const { doc, marked, seen } = marker("hidden");
  seen.shown({ id: "e1" });
  await pause(20);
  assert.deepEqual(marked, []);
  doc.show();
  await pause(20);
  assert.deepEqual(marked, ["e1"]);
});

test("a tab hidden again before the pause ends marks nothing", async () => {
  const { doc, marked, seen } = marker("visible");
  seen.shown({ id: "e1" });
  doc.visibilityState = "hidden";
  await pause(20);
  assert.deepEqual(marked, []);
});

test("a failed mark is retried at the next chance", async () => {
  const doc = new FakeDocument("visible");
  const calls = [];
  let fail = true;
  const seen = new SeenMarker({
    doc,
    delayMs: 5,
    markRead: async (id) => {
      calls.push(id);
      if (fail) throw new Error("offline");
    },
  });
  const warn = console.warn;
  console.warn = () => {};
  try {
    seen.shown({ id: "e1" });
    await pause(20);
    fail = false;
    doc.show();
    await pause(20);
  } finally {
    console.warn = warn;
  }
  assert.deepEqual(calls, ["e1", "e1"]);
});
