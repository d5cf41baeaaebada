/**
 * How one request's state is drawn: the status badge, the progress bar, the latest message.
 *
 * The dashboard's rows and the detail page's summary share these elements
 * (`.badge`, `progress`, `.message`, `[data-updated-at]`), server-rendered
 * first and updated here.
 */

import { timeElement } from "./dom.js";

/** Answer whether `request` is newer than what `container` shows (replays can bring older states). */
export function isNewer(container, request) {
  const shown = Date.parse(container.dataset.updatedAt || "");
  const incoming = Date.parse(request.updated_at || "");
  return Number.isNaN(shown) || Number.isNaN(incoming) || incoming >= shown;
}

/** Draw `request` ({status, progress, updated_at}) and `message` into `container`. */
export function drawRequest(container, request, message) {
  if (!isNewer(container, request)) return false;
  const progress = Number.isInteger(request.progress) ? request.progress : 0;
  container.dataset.status = request.status;
  container.dataset.updatedAt = request.updated_at;
  const badge = container.querySelector(".badge");
  badge.className = `badge ${request.status}`;
  badge.textContent = request.status;
  const bar = container.querySelector("progress");
  bar.value = progress;
  bar.textContent = `${progress} %`;
  bar.setAttribute("aria-label", `Progress ${progress} %`);
  const percent = container.querySelector(".percent");
  if (percent) percent.textContent = `${progress} %`;
  if (message !== undefined) container.querySelector(".message").textContent = message;
  const updated = container.querySelector(".updated");
  if (updated) updated.replaceChildren(timeElement(request.updated_at));
  return true;
}
