/**
 * TabStream: one tab's view of the shared stream, fed by the hub's messages (hub.js), wherever the hub runs.
 *
 * Until its hub greets it, a tab holds the frames it hears; the greeting
 * brings the events delivered since the tab's page load (or says they are
 * gone: then the tab gets a `reset` frame and refetches over REST). Every
 * event id is passed once, in the hub's order, which is cursor order. The
 * tab also remembers what it passed, so that it can hold the connection
 * itself if the tab holding it goes away.
 *
 * `deliver.frame(frame, cursor)` and `deliver.state({state, retryInMs, code})` tell the page.
 */

import { RecentEvents } from "./recent-events.js";
import { SeenIds } from "./seen-ids.js";

/** The `reset` frame a tab gets when the events since its page load are no longer all known. */
export const JOINED_LATE = { type: "reset", reason: "joined_late" };

export class TabStream {
  constructor({ id, since, deliver, now = Date.now }) {
    this.id = id;
    this.since = since;
    this.deliver = deliver;
    this.now = now;
    this.greeted = false;
    this.held = [];
    this.seen = new SeenIds();
    this.recent = new RecentEvents({ knownSince: since });
    this.cursor = null;
  }

  /** Take one message of the hub's (or a message meant for another tab, which is ignored). */
  receive(message) {
    this[`on_${message.op}`]?.(message);
  }

  /** Count as greeted without a hub's greeting (this tab's hub starts now); `reset` if events may be missing. */
  greetSelf({ reset }) {
    if (this.greeted) return;
    this.on_greeting({ to: this.id, events: [], reset, state: null, welcome: null, cursor: this.cursor });
  }

  on_frame(message) {
    if (this.greeted) this.pass(message);
    else this.held.push(message);
  }

  on_state({ op, cursor, ...state }) {
    this.deliver.state(state);
  }

  on_greeting({ to, events, reset, state, welcome, cursor }) {
    if (to !== this.id || this.greeted) return;
    this.greeted = true;
    this.cursor ??= cursor;
    if (welcome) this.deliver.frame(welcome, this.cursor);
    if (reset) this.resetRecent();
    for (const { frame, at } of events) this.pass({ frame, at, cursor: frame.cursor });
    if (state) this.deliver.state(state);
    // Heard before the greeting, so sent before it: its events are among `events`; its other frames still count.
    for (const message of this.held.splice(0)) this.pass(message);
    this.cursor = cursor ?? this.cursor;
  }

  pass({ frame, at, cursor }) {
    if (frame.type === "event" && !this.seen.add(frame.id)) return;
    if (frame.type === "event") this.recent.add(frame, at);
    this.cursor = cursor ?? this.cursor;
    this.deliver.frame(frame, this.cursor);
  }

  resetRecent() {
    this.recent = new RecentEvents({ knownSince: this.now() });
    this.deliver.frame(JOINED_LATE, this.cursor);
  }
}
