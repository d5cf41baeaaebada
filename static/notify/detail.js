/**
 * One request's page: its current state and its event history, both kept live.
 */

import { getRequest, requestEvents } from "./api.js";
import { h, statusWords, timeElement } from "./dom.js";
import { page } from "./page.js";
import { drawRequest } from "./request-view.js";

const summary = document.getElementById("request-summary");
const history = document.getElementById("history");
const requestId = summary.dataset.requestId;

function historyItem(event) {
  const { status, progress } = event.request;
  return h(
    "li",
    { "data-event-id": event.id, class: `history-item ${status}` },
    timeElement(event.created_at, { withDate: true }),
    h("span", { class: `badge ${status}` }, statusWords(status, progress)),
    event.message ? h("span", { class: "history-message" }, event.message) : null,
  );
}

function append(event) {
  if (history.querySelector(`li[data-event-id="${CSS.escape(event.id)}"]`)) return;
  history.append(historyItem(event));
}

async function refetch() {
  const [request, events] = await Promise.all([getRequest(requestId), requestEvents(requestId)]);
  drawRequest(summary, request, request.message);
  history.replaceChildren(...events.results.map(historyItem));
}

if (page) {
  page.client.addEventListener("event", ({ detail: event }) => {
    if (event.kind !== "request.status" || event.request.id !== requestId) return;
    drawRequest(summary, event.request, event.message);
    append(event);
  });
  page.client.addEventListener("reset", () => refetch());
}
