import assert from "node:assert/strict";
import { test } from "node:test";

import { backoffDelay } from "../../static/notify/backoff.js";

const MIN_MS = 500;
const MAX_MS = 30000;

test("each delay lies between half the capped exponential ceiling and the ceiling", () => {
  for (let attempt = 0; attempt < 12; attempt += 1) {
    const ceiling = Math.min(MAX_MS, MIN_MS * 2 ** attempt);
    assert.equal(backoffDelay(attempt, MIN_MS, MAX_MS, () => 0), ceiling / 2);
    assert.equal(backoffDelay(attempt, MIN_MS, MAX_MS, () => 1), ceiling);
    for (let i = 0; i < 50; i += 1) {
      const delay = backoffDelay(attempt, MIN_MS, MAX_MS);
      assert.ok(delay >= ceiling / 2 && delay <= ceiling, `attempt ${attempt}: ${delay} outside [${ceiling / 2}, ${ceiling}]`);
    }
  }
});

test("the ceiling doubles per attempt until it reaches the maximum, then stays there", () => {
  const ceilings = [0, 1, 2, 3, 6, 7, 20].map((attempt) => backoffDelay(attempt, MIN_MS, MAX_MS, () => 1));
  assert.deepEqual(ceilings, [500, 1000, 2000, 4000, 30000, 30000, 30000]);
});

test("jitter spreads clients that retry at the same attempt", () => {
  const delays = new Set(Array.from({ length: 40 }, () => backoffDelay(5, MIN_MS, MAX_MS)));
  assert.ok(delays.size > 10, `only ${delays.size} distinct delays out of 40`);
});
