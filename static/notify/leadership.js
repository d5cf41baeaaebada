/**
 * TabLeadership: where there is no SharedWorker, the tabs of a browser elect one to hold the connection.
 *
 * Every tab asks for one Web Lock (`navigator.locks`); the tab that holds it
 * leads: it runs the StreamHub (hub.js) and the socket, and broadcasts the
 * hub's messages on a BroadcastChannel. The others follow: they hear those
 * messages, say hello when they join (the leader greets them with what they
 * missed) and send their acks through the channel. The lock is released when
 * the leading tab closes or dies; the next tab in line then leads, resuming
 * from the cursor it was last broadcast (the one every tab was delivered),
 * and takes over the recent events it passed itself, so nothing is lost,
 * and tabs drop what comes twice.
 *
 * DOM-free: `locks`, `channel` and `createHub({broadcast, recent})` are given.
 *
 * Tab to leader: {op: "hello", from, since}, {op: "send", frame}. Leader to tabs: the
 * hub's messages, and {op: "leader"} when a tab starts leading (tabs not yet greeted say hello again).
 */

export class TabLeadership {
  constructor({ lockName, locks, channel, stream, createHub, storedCursor = () => null }) {
    this.lockName = lockName;
    this.locks = locks;
    this.channel = channel;
    this.stream = stream;
    this.createHub = createHub;
    this.storedCursor = storedCursor;
    this.hub = null;
    this.release = null;
    this.abort = new AbortController();
  }

  get role() {
    return this.hub ? "leader" : "follower";
  }

  /** Join: listen, say hello, and take the lock if it is free, else stand in line for it. */
  start() {
    this.channel.onmessage = ({ data }) => this.heard(data);
    this.hello();
    const held = new Promise((release) => (this.release = release));
    const warn = (error) => error?.name === "AbortError" || console.warn("could not take the connection lock:", error);
    const inLine = () => this.locks.request(this.lockName, { signal: this.abort.signal }, () => this.lead(held, true));
    this.locks
      .request(this.lockName, { ifAvailable: true }, (lock) => (lock ? this.lead(held, false) : inLine()))
      .catch(warn);
    return this;
  }

  /** Leave: stop leading (the next tab in line takes over) or stop standing in line. */
  stop() {
    this.abort.abort();
    this.hub?.stop();
    this.hub = null;
    this.release?.();
    this.channel.close();
  }

  /** Send a frame (an ack) over the connection, through the leader if this tab is not it. */
  send(frame) {
    if (this.hub) return this.hub.send(frame);
    this.channel.postMessage({ op: "send", frame });
    return true;
  }

  online() {
    this.hub?.online();
  }

  offline() {
    this.hub?.offline();
  }

  /** Hold the connection until `held` settles; `tookOver`: another tab held it while this one joined. */
  lead(held, tookOver) {
    if (this.abort.signal.aborted) return undefined;
    // A tab that took over before its greeting came may have missed events from before it listened.
    this.stream.greetSelf({ reset: tookOver });
    const broadcast = (message) => {
      this.channel.postMessage(message);
      this.stream.receive(message);
    };
    this.hub = this.createHub({ broadcast, recent: this.stream.recent.copy() });
    this.channel.postMessage({ op: "leader" });
    this.hub.start(this.stream.cursor ?? this.storedCursor());
    return held;
  }

  heard(message) {
    const handlers = this.hub ? LEADER_HANDLERS : FOLLOWER_HANDLERS;
    (handlers[message.op] ?? FOLLOWER_HANDLERS.other).call(this, message);
  }

  hello() {
    this.channel.postMessage({ op: "hello", from: this.stream.id, since: this.stream.since });
  }
}

const LEADER_HANDLERS = {
  hello(message) {
    this.channel.postMessage(this.hub.greet(message));
  },
  send({ frame }) {
    this.hub.send(frame);
  },
  other() {},
};

const FOLLOWER_HANDLERS = {
  leader() {
    if (!this.stream.greeted) this.hello();
  },
  hello() {},
  send() {},
  other(message) {
    this.stream.receive(message);
  },
};
