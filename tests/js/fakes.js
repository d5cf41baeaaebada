/**
 * Fakes of what the browser and the server give the client: a stream server behind fake WebSockets,
 * Web Locks, BroadcastChannels, storage, and a page's global scope made of them.
 */

const OPEN = 1;
const CLOSED = 3;

/** Return a 24-character cursor for position `seq` (the server's are opaque; these only need to sort). */
export const cursorAt = (seq) => String(seq).padStart(24, "0");

/** A socket as the client sees it; the server's side is driven by FakeStreamServer. */
export class FakeSocket {
  constructor(server, url) {
    this.server = server;
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.closedWith = null;
    this.live = false;
    this.onmessage = null;
    this.onclose = null;
  }

  send(text) {
    if (this.readyState !== OPEN) throw new Error("send on a socket that is not open");
    const frame = JSON.parse(text);
    this.sent.push(frame);
    this.server.receive(this, frame);
  }

  close(code = 1000) {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.closedWith = code;
    queueMicrotask(() => this.onclose?.({ code }));
  }

  push(frame) {
    queueMicrotask(() => this.readyState === OPEN && this.onmessage?.({ data: JSON.stringify(frame) }));
  }

  /** The server ends the connection with `code` (1006: its instance died). */
  drop(code = 1006) {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.closedWith = code;
    queueMicrotask(() => this.onclose?.({ code }));
  }

  /** The tab holding it died: the server sees it gone, nobody in the browser hears a close. */
  vanish() {
    this.readyState = CLOSED;
    this.onclose = null;
    this.onmessage = null;
  }
}

/** One user's stream as the server keeps it (PROTOCOL.md section 1): welcome, resume, replay, live, ack, ping. */
export class FakeStreamServer {
  constructor({ userId = 7, heartbeat = 25 } = {}) {
    this.userId = userId;
    this.heartbeat = heartbeat;
    this.events = [];
    this.sockets = [];
    this.refuseWith = null;
    this.createSocket = (url) => this.accept(url);
  }

  accept(url) {
    const socket = new FakeSocket(this, url);
    this.sockets.push(socket);
    queueMicrotask(() => this.open(socket));
    return socket;
  }

  open(socket) {
    if (socket.readyState === CLOSED) return;
    socket.readyState = OPEN;
    if (this.refuseWith) return socket.drop(this.refuseWith);
    socket.push({
      type: "welcome",
      user: { id: this.userId, username: "ada" },
      connection_id: `c${this.sockets.length}`,
      cursor: cursorAt(this.events.length),
      heartbeat: this.heartbeat,
      server_time: new Date().toISOString(),
    });
  }

  /** Return the sockets open now. */
  get open_sockets() {
    return this.sockets.filter((socket) => socket.readyState === OPEN);
  }

  receive(socket, frame) {
    const handlers = {
      resume: () => this.resume(socket, frame.cursor),
      ack: () => this.open_sockets.forEach((s) => s.push({ type: "read", up_to: frame.id, unread: 0 })),
      ping: () => this.pongs !== false && socket.push({ type: "pong", ts: frame.ts }),
    };
    handlers[frame.type]?.();
  }

  resume(socket, cursor) {
    const after = Number(cursor);
    if (after > this.events.length) {
      socket.push({ type: "reset", reason: "unknown_cursor" });
    } else {
      const missed = this.events.slice(after);
      missed.forEach((event) => socket.push(event));
      socket.push({ type: "replayed", count: missed.length, cursor: cursorAt(this.events.length) });
    }
    socket.live = true;
  }

  /** Store a request-status event and send it to every socket that has resumed; return it. */
  publish(status = "processing", progress = 50) {
    const seq = this.events.length + 1;
    const event = {
      type: "event",
      id: `e${seq}`,
      cursor: cursorAt(seq),
      kind: "request.status",
      created_at: new Date().toISOString(),
      request: { id: "r1", title: "Report", status, progress, updated_at: new Date().toISOString() },
      message: "",
    };
    this.events.push(event);
    this.open_sockets.filter((socket) => socket.live).forEach((socket) => socket.push(event));
    return event;
  }

  /** Kill the instance: every open socket drops with 1006. */
  crash() {
    this.open_sockets.forEach((socket) => socket.drop(1006));
  }
}

/** Web Locks (exclusive mode) shared by the tabs of one browser; `for(tab)` is that tab's `navigator.locks`. */
export class FakeLockManager {
  constructor() {
    this.queues = new Map();
    this.holders = new Map();
  }

  for(tab) {
    return { request: (name, options, callback) => this.request(tab, name, options, callback) };
  }

  request(tab, name, options, callback) {
    return new Promise((resolve, reject) => {
      const queue = this.queueOf(name);
      if (options.ifAvailable && (this.holders.has(name) || queue.length)) {
        Promise.resolve().then(() => callback(null)).then(resolve, reject);
        return;
      }
      const entry = { tab, callback, resolve, reject };
      options.signal?.addEventListener("abort", () => {
        if (!queue.includes(entry)) return;
        queue.splice(queue.indexOf(entry), 1);
        reject(new DOMException("The request was aborted.", "AbortError"));
      });
      queue.push(entry);
      this.grantNext(name);
    });
  }

  queueOf(name) {
    if (!this.queues.has(name)) this.queues.set(name, []);
    return this.queues.get(name);
  }

  grantNext(name) {
    if (this.holders.has(name)) return;
    const entry = this.queueOf(name).shift();
    if (!entry) return;
    this.holders.set(name, entry);
    setImmediate(() => {
      Promise.resolve(entry.callback({ name, mode: "exclusive" })).then(
        (value) => this.release(name, entry) || entry.resolve(value),
        (error) => this.release(name, entry) || entry.reject(error),
      );
    });
  }

  release(name, entry) {
    if (this.holders.get(name) !== entry) return;
    this.holders.delete(name);
    this.grantNext(name);
  }

  holderOf(name) {
    return this.holders.get(name)?.tab ?? null;
  }

  /** The tab died: its pending requests go, and the locks it held are released. */
  kill(tab) {
    for (const [name, queue] of this.queues) {
      this.queues.set(name, queue.filter((entry) => entry.tab !== tab));
      const held = this.holders.get(name);
      if (held?.tab === tab) this.release(name, held);
    }
  }
}

/** BroadcastChannels of one browser: a message reaches every other open channel of its name, in order. */
export class FakeBroadcastNetwork {
  constructor() {
    this.channels = new Set();
  }

  /** Return a BroadcastChannel constructor for `tab`. */
  for(tab) {
    const network = this;
    return class {
      constructor(name) {
        this.name = name;
        this.tab = tab;
        this.closed = false;
        this.onmessage = null;
        network.channels.add(this);
      }

      postMessage(data) {
        if (this.closed) throw new DOMException("BroadcastChannel is closed.", "InvalidStateError");
        if (network.dead?.has(tab)) return;
        const copy = structuredClone(data);
        for (const other of network.channels) {
          if (other !== this && other.name === this.name) setImmediate(() => !other.closed && other.onmessage?.({ data: copy }));
        }
      }

      close() {
        this.closed = true;
        network.channels.delete(this);
      }
    };
  }

  /** The tab died: it sends and hears nothing more. */
  kill(tab) {
    (this.dead ??= new Set()).add(tab);
    for (const channel of this.channels) if (channel.tab === tab) channel.closed = true;
  }
}

export class FakeStorage {
  constructor() {
    this.items = new Map();
  }

  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }

  setItem(key, value) {
    this.items.set(key, String(value));
  }
}

/** Return a page's global scope for tab `name` of a browser made of `locks`, `network` and `storage`. */
export function fakePage(name, { locks, network, storage, since = Date.now(), SharedWorker } = {}) {
  const assigned = [];
  return {
    location: { protocol: "http:", host: "127.0.0.1:8000", pathname: "/", search: "", assign: (url) => assigned.push(url) },
    assigned,
    localStorage: storage,
    performance: { timeOrigin: since },
    navigator: locks ? { locks: locks.for(name) } : {},
    BroadcastChannel: network?.for(name),
    SharedWorker,
    addEventListener() {},
    removeEventListener() {},
  };
}

/** Return once `predicate()` holds; fail after `timeoutMs`. */
export async function waitFor(predicate, what = "the condition", timeoutMs = 2000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Let queued messages, lock grants and microtasks run. */
export async function settle(rounds = 20) {
  for (let i = 0; i < rounds; i += 1) await new Promise((resolve) => setImmediate(resolve));
}
