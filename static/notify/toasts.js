/**
 * Short-lived toasts for new events, stacked in a corner; a burst shows only the newest few.
 *
 * Toasts are visual only (aria-hidden): the page's Announcer speaks, so
 * screen readers do not hear every event twice.
 */

import { h } from "./dom.js";

const TOAST_SECS = 5;
const MAX_TOASTS = 3;

export class Toasts {
  constructor(container) {
    this.container = container;
  }

  /** Show {title, body, level, href} for a few seconds, replacing the toast with the same `key`. */
  show({ title, body = "", level = "info", href = null, key = null }) {
    if (!this.container) return;
    if (key) [...this.container.children].find((toast) => toast.dataset.key === key)?.remove();
    const heading = href ? h("a", { href }, title) : h("strong", {}, title);
    const close = h("button", { type: "button", class: "toast-close", "aria-label": "Dismiss" }, "×");
    const toast = h("div", { class: `toast ${level}`, "data-key": key }, heading, body ? h("p", {}, body) : null, close);
    close.addEventListener("click", () => toast.remove());
    this.container.prepend(toast);
    while (this.container.children.length > MAX_TOASTS) this.container.lastElementChild.remove();
    setTimeout(() => toast.remove(), TOAST_SECS * 1000);
  }
}
