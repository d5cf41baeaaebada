/**
 * The notification centre: the bell with the unread badge, the list of recent events, "Mark all read".
 *
 * The list is loaded over REST, then kept by the socket's `event` frames (ids
 * already listed are skipped) and `read` frames (sent to every tab of the
 * user when any of them marks read, so the badge clears everywhere).
 */

import { listNotifications, markRead } from "./api.js";
import { h, statusWords, timeElement } from "./dom.js";

const MAX_LISTED = 50;

/** Return what a notification says: {title, body, href}, for the list and for toasts. */
export function describeEvent(event) {
  if (event.kind === "announcement") return { title: event.title, body: event.body || "", href: null };
  const request = event.request || {};
  const status = statusWords(request.status, request.progress);
  return {
    title: `${request.title}: ${status}`,
    body: event.message || "",
    href: `/requests/${encodeURIComponent(request.id)}/`,
  };
}

export class NotificationCentre {
  constructor(root) {
    this.root = root;
    this.bell = root.querySelector(".bell");
    this.badge = root.querySelector(".unread-count");
    this.panel = root.querySelector(".notification-panel");
    this.list = root.querySelector(".notification-list");
    this.markAllButton = root.querySelector(".mark-all-read");
    this.events = []; // newest first, each {event, read}
    this.unread = 0;
    this.wire();
  }

  wire() {
    this.bell.addEventListener("click", () => this.toggle());
    this.markAllButton.addEventListener("click", () => this.markAllRead());
    document.addEventListener("keydown", (e) => e.key === "Escape" && this.toggle(false));
    document.addEventListener("click", (e) => !this.root.contains(e.target) && this.toggle(false));
  }

  /** Follow `client`: new events and `read` frames from any tab. */
  follow(client) {
    client.addEventListener("event", (e) => this.add(e.detail));
    client.addEventListener("read", (e) => this.applyRead(e.detail.up_to, e.detail.unread));
    client.addEventListener("reset", () => this.load());
    return this;
  }

  /** Replace the list and the count with the server's; return the loaded page. */
  async load() {
    const page = await listNotifications();
    const live = this.events.filter(({ event }) => !page.results.some((e) => e.id === event.id));
    this.events = [...live, ...page.results.map((event) => ({ event, read: event.read }))];
    this.setUnread(page.unread);
    this.render();
    return page;
  }

  /** Add a new event on top; return false if it was listed already. */
  add(event) {
    if (this.events.some((item) => item.event.id === event.id)) return false;
    this.events.unshift({ event, read: false });
    this.events.length = Math.min(this.events.length, MAX_LISTED);
    this.setUnread(this.unread + 1);
    this.render();
    return true;
  }

  applyRead(upTo, unread) {
    const index = this.events.findIndex((item) => item.event.id === upTo);
    const from = index === -1 ? (unread === 0 ? 0 : this.events.length) : index;
    for (const item of this.events.slice(from)) item.read = true;
    this.setUnread(unread);
    this.render();
  }

  async markAllRead() {
    const newest = this.events[0];
    if (!newest) return;
    this.markAllButton.disabled = true;
    try {
      const answer = await markRead(newest.event.id);
      this.applyRead(answer.up_to, answer.unread);
    } finally {
      this.markAllButton.disabled = false;
    }
  }

  setUnread(count) {
    this.unread = Math.max(0, count);
    this.badge.textContent = this.unread > 99 ? "99+" : String(this.unread);
    this.badge.hidden = this.unread === 0;
    this.bell.setAttribute("aria-label", `Notifications, ${this.unread} unread`);
    this.markAllButton.disabled = this.unread === 0;
  }

  toggle(open = this.panel.hidden) {
    this.panel.hidden = !open;
    this.bell.setAttribute("aria-expanded", String(open));
  }

  render() {
    if (this.events.length === 0) {
      this.list.replaceChildren(h("li", { class: "empty" }, "Nothing yet."));
      return;
    }
    this.list.replaceChildren(...this.events.map(({ event, read }) => this.renderItem(event, read)));
  }

  renderItem(event, read) {
    const { title, body, href } = describeEvent(event);
    const heading = href ? h("a", { href }, title) : h("strong", {}, title);
    const kind = event.kind === "announcement" ? `announcement ${event.level || "info"}` : event.request?.status;
    return h(
      "li",
      { class: `notification ${read ? "read" : "unread"} ${kind || ""}`, "data-event-id": event.id },
      heading,
      body ? h("p", {}, body) : null,
      timeElement(event.created_at),
    );
  }
}
