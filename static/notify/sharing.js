/**
 * How a tab reaches the browser's one connection: a link to the shared worker, to the elected tab, or its own.
 *
 * `openLink` picks, in this order: the SharedWorker (shared-connection-worker.js),
 * where it exists; else leader election among tabs (leadership.js) with Web
 * Locks and BroadcastChannel (Chrome on Android has no SharedWorker); else,
 * without either (a page not in a secure context has no `navigator.locks`), a
 * connection of the tab's own. A link feeds the tab's TabStream and offers
 * `send(frame)`, `close()`, `online()`, `offline()` and `mode`
 * ("shared-worker", "leader", "follower" or "own").
 *
 * `env` is the page's global scope (tests pass fakes): SharedWorker, BroadcastChannel, navigator.locks.
 */

import { AdaptiveConnection } from "./adaptive-connection.js";
import { StreamHub } from "./hub.js";
import { TabLeadership } from "./leadership.js";

const WORKER_URL = new URL("./shared-connection-worker.js", import.meta.url);
/** Part of every shared name: tabs and a worker of another wire version between them never meet. */
export const SHARING_VERSION = "notify.v1";

/** Return the link for one tab: {userId, stream, hello, connectOptions, storedCursor, env, workerUrl}. */
export function openLink(options) {
  const { env } = options;
  if (typeof env.SharedWorker === "function") return new WorkerLink(options);
  return openTabLink(options);
}

function openTabLink(options) {
  const { env } = options;
  if (env.navigator?.locks && typeof env.BroadcastChannel === "function") return new ElectedLink(options);
  return new OwnLink(options);
}

function hubMaker(connectOptions) {
  return ({ broadcast, recent }) => {
    const connect = (handlers) => new AdaptiveConnection({ ...connectOptions, ...handlers });
    return new StreamHub({ connect, broadcast, recent });
  };
}

/** The tab's end of a MessagePort to the shared worker; a worker that fails to start hands over to a tab link. */
class WorkerLink {
  constructor(options) {
    const { env, userId, stream, hello, workerUrl = WORKER_URL } = options;
    this.replacement = null;
    this.heard = false;
    const worker = new env.SharedWorker(workerUrl, { type: "module", name: `${SHARING_VERSION}.${userId}` });
    worker.addEventListener("error", () => this.failed(options));
    this.port = worker.port;
    this.port.onmessage = ({ data }) => {
      this.heard = true;
      stream.receive(data);
    };
    this.port.postMessage(hello);
  }

  get mode() {
    return this.replacement?.mode ?? "shared-worker";
  }

  send(frame) {
    if (this.replacement) return this.replacement.send(frame);
    this.port.postMessage({ op: "send", frame });
    return true;
  }

  close() {
    if (this.replacement) return this.replacement.close();
    this.port.postMessage({ op: "bye" });
    this.port.close();
  }

  // The worker itself watches the network.
  online() {}
  offline() {}

  failed(options) {
    if (this.heard || this.replacement) return;
    console.warn("the shared connection worker did not start; the tabs elect one to hold the connection");
    this.port.close();
    this.replacement = openTabLink(options);
  }
}

/** A tab taking part in leader election (leadership.js). */
class ElectedLink {
  constructor({ env, userId, stream, connectOptions, storedCursor }) {
    this.leadership = new TabLeadership({
      lockName: `${SHARING_VERSION}.connection.${userId}`,
      locks: env.navigator.locks,
      channel: new env.BroadcastChannel(`${SHARING_VERSION}.${userId}`),
      stream,
      createHub: hubMaker(connectOptions),
      storedCursor,
    }).start();
  }

  get mode() {
    return this.leadership.role;
  }

  send(frame) {
    return this.leadership.send(frame);
  }

  close() {
    this.leadership.stop();
  }

  online() {
    this.leadership.online();
  }

  offline() {
    this.leadership.offline();
  }
}

/** A connection of the tab's own, where tabs cannot share one. */
class OwnLink {
  constructor({ stream, hello, connectOptions, storedCursor }) {
    this.hub = hubMaker(connectOptions)({ broadcast: (message) => stream.receive(message) });
    this.hub.start(storedCursor());
    stream.receive(this.hub.greet(hello));
  }

  get mode() {
    return "own";
  }

  send(frame) {
    return this.hub.send(frame);
  }

  close() {
    this.hub.stop();
  }

  online() {
    this.hub.online();
  }

  offline() {
    this.hub.offline();
  }
}
