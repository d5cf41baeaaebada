/**
 * How long to wait before the next reconnect: exponential, capped, with jitter so clients spread out.
 */

/** Return the delay for attempt n (0-based): "equal jitter", between half the ceiling and the ceiling. */
export function backoffDelay(attempt, minMs, maxMs, random = Math.random) {
  const ceiling = Math.min(maxMs, minMs * 2 ** attempt);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
