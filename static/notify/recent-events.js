/**
 * The events a connection's holder delivered lately, with when, so a tab that joins later gets them at once.
 *
 * It knows every event from `knownSince` on, until it forgets the oldest past
 * `limit`; asked for events since a time it cannot vouch for, it answers null
 * and the tab must refetch its state over REST.
 */

export class RecentEvents {
  constructor({ limit = 500, knownSince = -Infinity } = {}) {
    this.limit = limit;
    this.knownSince = knownSince;
    this.entries = []; // {frame, at}, oldest first
  }

  /** Keep `frame`, delivered at `at` (ms since the epoch). */
  add(frame, at) {
    this.entries.push({ frame, at });
    if (this.entries.length <= this.limit) return;
    const forgotten = this.entries.shift();
    this.knownSince = Math.max(this.knownSince, forgotten.at + 1);
  }

  /** Return the entries delivered at or after `at`, oldest first; null if some of them may be forgotten. */
  since(at) {
    if (at < this.knownSince) return null;
    return this.entries.filter((entry) => entry.at >= at);
  }

  /** Return a copy that knows what this one knows (for a tab that takes the connection over). */
  copy() {
    const copied = new RecentEvents({ limit: this.limit, knownSince: this.knownSince });
    copied.entries = [...this.entries];
    return copied;
  }
}
