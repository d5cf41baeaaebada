/**
 * The visible connection state: "Live", "Live (SSE)", "Reconnecting in N s", "Offline", "Signed out".
 *
 * Reads the client's `state` events; announces losing and regaining the
 * connection to screen readers, not every retry.
 */

import { h } from "./dom.js";

const LABELS = {
  connecting: "Connecting…",
  connected: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
  "signed-out": "Signed out",
  stopped: "Not connected",
};

export class ConnectionState {
  constructor(element, signedOutNotice, announcer, loginUrl) {
    this.element = element;
    this.signedOutNotice = signedOutNotice;
    this.announcer = announcer;
    this.loginUrl = loginUrl;
    this.countdown = null;
    this.wasConnected = false;
  }

  /** Follow `client` from now on. */
  follow(client) {
    client.addEventListener("state", (e) => this.render(e.detail));
    return this;
  }

  render({ state, retryInMs = 0, transport }) {
    clearInterval(this.countdown);
    this.element.dataset.state = state;
    if (transport) this.element.dataset.transport = transport;
    this.setLabel(state === "connected" && transport === "sse" ? `${LABELS.connected} (SSE)` : (LABELS[state] ?? state));
    if (state === "reconnecting" && retryInMs > 0) this.countDown(Date.now() + retryInMs);
    this.tell(state);
    if (state === "signed-out") this.showSignedOut();
  }

  countDown(at) {
    const tick = () => {
      const secs = Math.max(0, Math.ceil((at - Date.now()) / 1000));
      this.setLabel(secs > 0 ? `Reconnecting in ${secs} s` : LABELS.reconnecting);
    };
    tick();
    this.countdown = setInterval(tick, 1000);
  }

  setLabel(text) {
    this.element.querySelector(".connection-label").textContent = text;
  }

  tell(state) {
    if (state === "connected" && !this.wasConnected) {
      if (this.lostAt) this.announcer.announce("Connection restored.");
      this.wasConnected = true;
    } else if (state !== "connected" && this.wasConnected) {
      this.wasConnected = false;
      this.lostAt = Date.now();
      if (state !== "signed-out") this.announcer.announce("Connection lost; reconnecting.");
    }
  }

  showSignedOut() {
    const next = encodeURIComponent(location.pathname + location.search);
    const link = h("a", { href: `${this.loginUrl}?next=${next}` }, "Sign in again");
    this.signedOutNotice.replaceChildren(h("span", {}, "You have been signed out. "), link);
    this.signedOutNotice.hidden = false;
  }
}
