/**
 * Marks the user's events read once a visible tab has shown them, so that "read" means seen.
 *
 * An event that arrives while the tab is visible (Page Visibility API) is
 * marked read after a short pause (a burst of progress steps is one call);
 * one that arrives while the tab is hidden waits until the tab is shown.
 * The server tells every tab (`read` frames), and a finished request that was
 * marked read in time is never e-mailed as unseen.
 */

export const SEEN_DELAY_MS = 1000;

export class SeenMarker {
  /**
   * @param {object} options
   * @param {(eventId: string) => Promise<unknown>} options.markRead marks the stream read up to an event
   * @param {Document} [options.doc] the document whose visibility counts
   * @param {number} [options.delayMs] how long an event must have been shown
   */
  constructor({ markRead, doc = globalThis.document, delayMs = SEEN_DELAY_MS }) {
    this.markRead = markRead;
    this.doc = doc;
    this.delayMs = delayMs;
    this.newest = null; // the id of the newest event received
    this.marked = null; // the id last marked read
    this.timer = null;
    doc.addEventListener("visibilitychange", () => this.schedule());
  }

  /** Follow `client`'s events. */
  follow(client) {
    client.addEventListener("event", (e) => this.shown(e.detail));
    return this;
  }

  shown(event) {
    this.newest = event.id;
    this.schedule();
  }

  schedule() {
    if (this.timer !== null || !this.visible()) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush();
    }, this.delayMs);
  }

  flush() {
    if (!this.visible() || this.newest === null || this.newest === this.marked) return;
    const id = this.newest;
    this.marked = id;
    this.markRead(id).catch((error) => {
      if (this.marked === id) this.marked = null; // try again at the next event or visibility change
      console.warn("could not mark events read:", error.message);
    });
  }

  visible() {
    return this.doc.visibilityState === "visible";
  }
}
