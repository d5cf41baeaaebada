/**
 * Which transport the connection uses: the WebSocket, or Server-Sent Events where WebSockets do not get through.
 *
 * Pure and DOM-free. A proxy that drops `Upgrade` fails every handshake: the
 * socket closes with 1006 before its `welcome`. After
 * `failuresBeforeFallback` such closes in a row the connection goes on over
 * SSE (PROTOCOL.md section 4.4), and tries the WebSocket again every
 * `webSocketRetryMs`. A socket that got its welcome and closed later is no
 * handshake failure; neither is a close code the server chose.
 */

export const TRANSPORT_DEFAULTS = {
  failuresBeforeFallback: 3,
  webSocketRetryMs: 180000,
  probeTimeoutMs: 10000,
};

/** The close code of a socket that ended without a close frame: a failed handshake when it never opened. */
export const CLOSE_ABNORMAL = 1006;

export class TransportChoice {
  constructor({ failuresBeforeFallback = TRANSPORT_DEFAULTS.failuresBeforeFallback, canFallBack = true } = {}) {
    this.failuresBeforeFallback = failuresBeforeFallback;
    this.canFallBack = canFallBack;
    this.transport = "websocket";
    this.failures = 0;
  }

  /** A socket got its welcome: WebSockets get through. */
  welcomed() {
    this.failures = 0;
  }

  /** A socket closed with `code`, before its welcome if `beforeWelcome`; answer whether to go over SSE now. */
  closed(code, beforeWelcome) {
    if (!beforeWelcome || code !== CLOSE_ABNORMAL) {
      this.failures = 0;
      return false;
    }
    this.failures += 1;
    if (this.transport !== "websocket" || !this.canFallBack || this.failures < this.failuresBeforeFallback) return false;
    this.transport = "sse";
    return true;
  }

  /** A trial socket got its welcome while on SSE: back to the WebSocket. */
  socketWorksAgain() {
    this.transport = "websocket";
    this.failures = 0;
  }
}
