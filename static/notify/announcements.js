/**
 * The banner that shows the latest announcement (a broadcast to everyone) until dismissed.
 */

import { h } from "./dom.js";

export class AnnouncementBanner {
  constructor(container) {
    this.container = container;
  }

  /** Show an announcement event ({title, body, level}), replacing the one shown. */
  show(event) {
    if (!this.container) return;
    const level = ["info", "success", "warning", "critical"].includes(event.level) ? event.level : "info";
    const close = h("button", { type: "button", class: "banner-close", "aria-label": "Dismiss announcement" }, "×");
    close.addEventListener("click", () => this.hide());
    this.container.replaceChildren(
      h("div", { class: "banner-text" }, h("strong", {}, event.title), event.body ? h("span", {}, event.body) : null),
      close,
    );
    this.container.className = `banner ${level}`;
    this.container.dataset.eventId = event.id;
    this.container.hidden = false;
  }

  hide() {
    this.container.hidden = true;
  }
}
