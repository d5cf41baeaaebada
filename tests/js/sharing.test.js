import assert from "node:assert/strict";
import { test } from "node:test";

import { NotificationClient } from "../../static/notify/client.js";
import { FakeBroadcastNetwork, FakeLockManager, FakeStorage, FakeStreamServer, fakePage, settle, waitFor } from "./fakes.js";

const LOCK = "notify.v1.connection.7";

/** A browser whose tabs have Web Locks and BroadcastChannel but no SharedWorker (Chrome on Android). */
function browser(t) {
  const server = new FakeStreamServer();
  const parts = { locks: new FakeLockManager(), network: new FakeBroadcastNetwork(), storage: new FakeStorage() };
  const tabs = new Map();
  const open = (name, since = Date.now()) => {
    const env = fakePage(name, { ...parts, since });
    const client = new NotificationClient({ userId: 7, env, createSocket: server.createSocket, since, minBackoffMs: 4, maxBackoffMs: 20 });
    const tab = { name, env, client, ids: [], states: [], resets: [] };
    client.addEventListener("event", (e) => tab.ids.push(e.detail.id));
    client.addEventListener("state", (e) => tab.states.push(e.detail.state));
    client.addEventListener("reset", (e) => tab.resets.push(e.detail.reason));
    tabs.set(name, tab);
    client.start();
    return tab;
  };
  /** The tab dies: no goodbye; its lock is released and its socket is gone, as when a browser tab closes. */
  const kill = (name) => {
    const { client } = tabs.get(name);
    parts.network.kill(name);
    const held = client.link.leadership.hub?.connection; // an AdaptiveConnection: its socket is its active one's
    const connection = held?.active;
    if (connection) {
      held.stopped = connection.stopped = true;
      connection.clearTimers();
      connection.ws?.vanish();
    }
    parts.locks.kill(name);
    tabs.delete(name);
  };
  const leader = () => parts.locks.holderOf(LOCK);
  const live = () => [...tabs.values()].every((tab) => tab.client.state === "connected");
  t.after(() => [...tabs.values()].forEach((tab) => tab.client.stop()));
  return { server, tabs, open, kill, leader, live, ...parts };
}

const allIds = (server) => server.events.map((event) => event.id);

test("three tabs share one connection and each sees every event once, in order", async (t) => {
  const b = browser(t);
  for (const name of ["a", "b", "c"]) b.open(name);
  await waitFor(b.live, "every tab live");
  for (let i = 0; i < 5; i += 1) b.server.publish();
  await waitFor(() => [...b.tabs.values()].every((tab) => tab.ids.length === 5), "five events in every tab");
  await settle();
  assert.equal(b.server.sockets.length, 1, "more than one socket for one browser");
  for (const tab of b.tabs.values()) assert.deepEqual(tab.ids, allIds(b.server), `tab ${tab.name}`);
  assert.deepEqual([...b.tabs.values()].map((tab) => tab.client.sharing).sort(), ["follower", "follower", "leader"]);
});

test("when the leading tab dies another takes over and resumes from the last cursor every tab was delivered", async (t) => {
  const b = browser(t);
  for (const name of ["a", "b", "c"]) b.open(name);
  await waitFor(b.live, "every tab live");
  b.server.publish();
  b.server.publish();
  await waitFor(() => [...b.tabs.values()].every((tab) => tab.ids.length === 2), "two events everywhere");
  const first = b.leader();
  b.kill(first);
  b.server.publish(); // while no tab holds the connection
  b.server.publish("succeeded", 100);
  await waitFor(() => b.leader() !== null && b.server.open_sockets.length === 1, "a new leader's socket");
  const resumed = b.server.sockets.at(-1).sent.find((frame) => frame.type === "resume");
  assert.equal(resumed.cursor, b.server.events[1].cursor);
  b.server.publish();
  await waitFor(() => [...b.tabs.values()].every((tab) => tab.ids.length === 5), "five events in both tabs");
  await settle();
  assert.notEqual(b.leader(), first);
  for (const tab of b.tabs.values()) assert.deepEqual(tab.ids, allIds(b.server), `tab ${tab.name}`);
  assert.equal(b.server.open_sockets.length, 1);
});

test("followers' acks go through the leader's socket and the read reaches every tab", async (t) => {
  const b = browser(t);
  for (const name of ["a", "b"]) b.open(name);
  await waitFor(b.live, "every tab live");
  const follower = [...b.tabs.values()].find((tab) => tab.client.sharing === "follower");
  const reads = [];
  for (const tab of b.tabs.values()) tab.client.addEventListener("read", (e) => reads.push([tab.name, e.detail.up_to]));
  b.server.publish();
  await waitFor(() => follower.ids.length === 1, "the event in the follower");
  assert.equal(follower.client.ack("e1"), true);
  await waitFor(() => reads.length === 2, "a read frame in both tabs");
  assert.deepEqual(b.server.sockets[0].sent.filter((f) => f.type === "ack"), [{ type: "ack", id: "e1" }]);
  assert.deepEqual(reads.map(([, upTo]) => upTo), ["e1", "e1"]);
});

test("a tab opened later gets at once the events delivered since its page load", async (t) => {
  const b = browser(t);
  b.open("a");
  await waitFor(b.live, "the first tab live");
  b.server.publish();
  // The leader timestamps an event when it delivers it: wait for that before the late tab's page load.
  await waitFor(() => b.tabs.get("a").ids.length === 1, "the first event delivered");
  const loadedAt = Date.now() + 1;
  await new Promise((resolve) => setTimeout(resolve, 3));
  b.server.publish();
  b.server.publish("succeeded", 100);
  await waitFor(() => b.tabs.get("a").ids.length === 3, "three events in the first tab");
  const late = b.open("late", loadedAt);
  await waitFor(() => late.ids.length === 2 && late.client.state === "connected", "the late tab greeted");
  assert.deepEqual(late.ids, ["e2", "e3"]);
  assert.deepEqual(late.resets, []);
  assert.equal(b.server.sockets.length, 1);
});

test("a tab whose page loaded before the leader knew the stream is told to refetch (reset)", async (t) => {
  const b = browser(t);
  const loadedLongAgo = Date.now() - 60_000;
  b.open("a");
  await waitFor(b.live, "the first tab live");
  b.kill("a"); // the next leader knows only what it saw itself
  b.open("b");
  await waitFor(() => b.tabs.get("b").client.sharing === "leader" && b.live(), "b leads");
  const late = b.open("c", loadedLongAgo);
  await waitFor(() => late.resets.length === 1, "a reset in the late tab");
  assert.deepEqual(late.resets, ["joined_late"]);
});

test("a session-ending close code reaches every tab, which sends its page to sign-in", async (t) => {
  const b = browser(t);
  for (const name of ["a", "b", "c"]) b.open(name);
  await waitFor(b.live, "every tab live");
  b.server.refuseWith = 4401;
  b.server.crash();
  await waitFor(() => [...b.tabs.values()].every((tab) => tab.env.assigned.length === 1), "every tab sent to sign-in");
  for (const tab of b.tabs.values()) {
    assert.equal(tab.client.state, "signed-out");
    assert.deepEqual(tab.env.assigned, ["/accounts/login/?next=%2F"]);
  }
});

test("tabs that close cleanly hand the connection on; the last one closes it", async (t) => {
  const b = browser(t);
  for (const name of ["a", "b"]) b.open(name);
  await waitFor(b.live, "every tab live");
  const first = b.tabs.get(b.leader());
  first.client.stop();
  b.tabs.delete(first.name);
  b.server.publish();
  await waitFor(() => b.leader() !== null && [...b.tabs.values()][0].ids.length === 1, "the other tab leads and has the event");
  [...b.tabs.values()][0].client.stop();
  await settle();
  assert.equal(b.server.open_sockets.length, 0);
  assert.equal(b.leader(), null);
});
