/**
 * StreamHub: what holds a browser's one connection (the shared worker, or the tab that leads) does for all tabs.
 *
 * It owns the Connection, passes every frame on to every tab once (an event
 * id it passed before is dropped), with the cursor the connection stands at
 * after it, keeps the recent events and the last state and welcome, and
 * greets a tab that joins with them. DOM-free; the owner supplies
 * `broadcast(message)` (to every tab) and `connect(handlers)` (a Connection).
 *
 * Messages to tabs, each with `cursor`:
 *   {op: "frame", frame, at}          a welcome, event, replayed, reset or read frame
 *   {op: "state", state, retryInMs, code}
 *   {op: "greeting", to, events: [{frame, at}], reset, state, welcome}   the answer to a tab's hello
 */

import { RecentEvents } from "./recent-events.js";
import { SeenIds } from "./seen-ids.js";

export class StreamHub {
  constructor({ connect, broadcast, recent = new RecentEvents(), seen = new SeenIds(), now = Date.now }) {
    this.connect = connect;
    this.broadcast = broadcast;
    this.recent = recent;
    this.seen = seen;
    this.now = now;
    this.connection = null;
    this.state = { state: "stopped" };
    this.retryAt = null;
    this.welcome = null;
  }

  /** Answer whether the connection is (being) kept open. */
  get running() {
    return this.connection !== null && !this.connection.stopped;
  }

  get cursor() {
    return this.connection?.cursor ?? null;
  }

  /** Open the connection, resuming after `cursor` (null: from the welcome cursor). */
  start(cursor = null) {
    if (this.running) return this;
    this.connection = this.connect({
      cursor: this.cursor ?? cursor,
      onFrame: (frame) => this.pass(frame),
      onState: (state) => this.tell(state),
    });
    this.connection.start();
    return this;
  }

  stop() {
    this.connection?.stop();
  }

  /** Send a tab's frame (an ack) over the connection; false when it is not open. */
  send(frame) {
    return this.connection?.send(frame) ?? false;
  }

  online() {
    this.connection?.online();
  }

  offline() {
    this.connection?.offline();
  }

  /** Return the greeting for a tab's hello {from, since}: the events it cannot have seen, the state, the welcome. */
  greet({ from, since }) {
    const events = this.recent.since(since);
    const state = { ...this.state, retryInMs: this.retryAt === null ? 0 : Math.max(0, this.retryAt - this.now()) };
    return { op: "greeting", to: from, events: events ?? [], reset: events === null, state, welcome: this.welcome, cursor: this.cursor };
  }

  pass(frame) {
    if (frame.type === "event" && !this.seen.add(frame.id)) return;
    const at = this.now();
    if (frame.type === "event") this.recent.add(frame, at);
    if (frame.type === "welcome") this.welcome = frame;
    this.broadcast({ op: "frame", frame, at, cursor: this.cursor });
  }

  tell(state) {
    this.state = state;
    this.retryAt = state.retryInMs ? this.now() + state.retryInMs : null;
    this.broadcast({ op: "state", ...state, cursor: this.cursor });
  }
}
