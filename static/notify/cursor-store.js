/**
 * The last cursor delivered to this browser's tabs, kept in localStorage per user.
 *
 * Only a seed: the connection's holder moves its own cursor; a holder that
 * starts with none (the first tab after a restart) resumes from this one.
 */

export class CursorStore {
  constructor(userId, storage = globalThis.localStorage) {
    this.key = `notify.cursor.${userId}`;
    this.storage = storage;
    this.memory = null;
  }

  get() {
    try {
      return this.storage.getItem(this.key) ?? this.memory;
    } catch {
      return this.memory;
    }
  }

  set(cursor) {
    if (!cursor) return;
    this.memory = cursor;
    try {
      this.storage.setItem(this.key, cursor);
    } catch {
      // Storage full, disabled or absent: the in-memory copy still covers this page.
    }
  }
}
