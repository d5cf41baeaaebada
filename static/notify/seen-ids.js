/**
 * Recent event ids, so an event offered twice (a resume overlapping live frames, a takeover) is passed once.
 */

export class SeenIds {
  constructor(limit = 2000) {
    this.limit = limit;
    this.ids = new Set();
  }

  /** Return true the first time an id is offered, false afterwards; the oldest ids are forgotten past `limit`. */
  add(id) {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.limit) this.ids.delete(this.ids.values().next().value);
    return true;
  }

  has(id) {
    return this.ids.has(id);
  }
}
