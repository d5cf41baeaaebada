/**
 * Screen-reader announcements through one polite aria-live region, so status changes are heard once.
 */

export class Announcer {
  constructor(region) {
    this.region = region;
  }

  /** Say `text`; clearing first makes a repeated sentence be read again. */
  announce(text) {
    if (!this.region) return;
    this.region.textContent = "";
    requestAnimationFrame(() => {
      this.region.textContent = text;
    });
  }
}
