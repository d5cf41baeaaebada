/**
 * The shared worker that holds a browser's one connection for all tabs of the origin (one worker per user).
 *
 * Tabs connect with `new SharedWorker(url, {type: "module", name: "notify.v1.<userId>"})`
 * (sharing.js) and talk over their MessagePort: {op: "hello", from, since,
 * cursor, url, userId, options}, {op: "send", frame}, {op: "bye"}. The
 * worker answers with the StreamHub's messages (hub.js). Its WebSocket (or,
 * where handshakes fail, its EventSource) is same-origin, so it carries the
 * session cookie and the pages' Origin; the hello's options bring the CSRF
 * token for acks over REST, since a worker cannot read cookies. It
 * cannot redirect a page: a close code that ends the session reaches the tabs
 * as state "signed-out" with the code, and they act on it.
 */

import { AdaptiveConnection } from "./adaptive-connection.js";
import { StreamHub } from "./hub.js";

const ports = new Set();
let hub = null;

function broadcast(message) {
  for (const port of ports) port.postMessage(message);
}

/** Return the hub for the first hello's user, socket URL and options (every tab of this worker sends the same). */
function hubFor({ userId, url, options }) {
  const connect = (handlers) => new AdaptiveConnection({ url, userId, ...options, ...handlers });
  return new StreamHub({ connect, broadcast });
}

const HANDLERS = {
  hello(port, message) {
    ports.add(port);
    hub ??= hubFor(message);
    if (!hub.running) hub.start(message.cursor);
    port.postMessage(hub.greet(message));
  },
  send(port, { frame }) {
    hub?.send(frame);
  },
  bye(port) {
    ports.delete(port);
    // No tab left to show anything: close the socket; the next tab's hello opens it again from the cursor.
    if (ports.size === 0) hub?.stop();
  },
};

self.addEventListener("connect", ({ ports: [port] }) => {
  port.onmessage = ({ data }) => HANDLERS[data?.op]?.(port, data);
});
self.addEventListener("online", () => hub?.online());
self.addEventListener("offline", () => hub?.offline());
