import assert from "node:assert/strict";
import { test } from "node:test";

import { NotificationClient } from "../../static/notify/client.js";
import { FakeStorage, FakeStreamServer, fakePage, settle, waitFor } from "./fakes.js";

// The worker module runs in a scope of its own: `self`, and the WebSocket it opens.
const server = new FakeStreamServer();
globalThis.self = new EventTarget();
globalThis.WebSocket = function FakeWebSocket(url) {
  return server.accept(url);
};
await import("../../static/notify/shared-connection-worker.js");

/** The browser's side of `new SharedWorker(...)`: every construction connects one more port to the one worker. */
class FakeSharedWorker extends EventTarget {
  static made = [];

  constructor(url, options) {
    super();
    FakeSharedWorker.made.push({ url: String(url), options });
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const connect = new Event("connect");
    connect.ports = [port2];
    globalThis.self.dispatchEvent(connect);
  }
}

const storage = new FakeStorage();

function openTab(name, since = Date.now()) {
  const env = fakePage(name, { storage, since, SharedWorker: FakeSharedWorker });
  const client = new NotificationClient({ userId: 7, env, since });
  const tab = { name, env, client, ids: [] };
  client.addEventListener("event", (e) => tab.ids.push(e.detail.id));
  client.start();
  return tab;
}

const connected = (tabs) => () => tabs.every((tab) => tab.client.state === "connected");

test("tabs share the worker's one socket; a later tab gets the events since its load; the last to leave closes it", async () => {
  const tabs = ["a", "b", "c"].map((name) => openTab(name));
  await waitFor(connected(tabs), "every tab live");
  assert.equal(server.sockets.length, 1);
  assert.deepEqual(FakeSharedWorker.made.map((made) => made.options), Array(3).fill({ type: "module", name: "notify.v1.7" }));
  assert.match(FakeSharedWorker.made[0].url, /\/static\/notify\/shared-connection-worker\.js$/);
  assert.equal(tabs[0].client.sharing, "shared-worker");

  server.publish();
  // The worker timestamps an event when it delivers it: wait for that before the late tab's page load.
  await waitFor(() => tabs.every((tab) => tab.ids.length === 1), "the first event in every tab");
  const loadedAt = Date.now() + 1;
  await new Promise((resolve) => setTimeout(resolve, 3));
  server.publish("succeeded", 100);
  await waitFor(() => tabs.every((tab) => tab.ids.length === 2), "two events in every tab");
  const late = openTab("late", loadedAt);
  await waitFor(() => late.ids.length === 1 && late.client.state === "connected", "the late tab greeted");
  assert.deepEqual(late.ids, ["e2"]);
  for (const tab of tabs) assert.deepEqual(tab.ids, ["e1", "e2"]);

  for (const tab of [...tabs, late]) tab.client.stop();
  await waitFor(() => server.open_sockets.length === 0, "the socket closed");
  server.publish();
  const again = openTab("again", Date.now());
  await waitFor(() => again.ids.length === 1, "the missed event replayed");
  assert.equal(server.sockets.at(-1).sent[0].cursor, server.events[1].cursor, "did not resume from the last cursor");
  assert.deepEqual(again.ids, ["e3"]);
  again.client.stop();
  await settle();
});

test("a session-ending close reaches every tab of the worker as signed-out with its code", async () => {
  const tabs = ["a", "b"].map((name) => openTab(name));
  await waitFor(connected(tabs), "every tab live");
  const signedOut = [];
  for (const tab of tabs) tab.client.addEventListener("signedout", (e) => (e.preventDefault(), signedOut.push(e.detail.code)));
  server.open_sockets[0].drop(4000);
  await waitFor(() => signedOut.length === 2, "signedout in both tabs");
  assert.deepEqual(signedOut, [4000, 4000]);
  assert.deepEqual(tabs.map((tab) => tab.client.state), ["signed-out", "signed-out"]);
  assert.deepEqual(tabs.map((tab) => tab.env.assigned), [[], []], "a cancelled signedout still redirected");
  await settle();
});
