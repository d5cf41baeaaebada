/**
 * The dashboard: the user's requests, updated live, and the form that starts a new one.
 *
 * A new request's row appears as soon as the API answers 201; the socket's
 * `queued` event for it then finds the row already there.
 */

import { createRequest, listRequests } from "./api.js";
import { h } from "./dom.js";
import { page } from "./page.js";
import { drawRequest } from "./request-view.js";

const tbody = document.getElementById("request-rows");
const emptyRow = document.getElementById("no-requests");

function rowOf(id) {
  return tbody.querySelector(`tr[data-request-id="${CSS.escape(id)}"]`);
}

function newRow(request) {
  const link = h("a", { href: `/requests/${encodeURIComponent(request.id)}/` }, request.title);
  return h(
    "tr",
    { "data-request-id": request.id },
    h("td", { class: "title", "data-label": "Request" }, link),
    h("td", { "data-label": "Status" }, h("span", { class: "badge" })),
    h("td", { "data-label": "Progress" }, h("progress", { max: 100, value: 0 }), h("span", { class: "percent" })),
    h("td", { class: "message", "data-label": "Latest" }),
    h("td", { class: "updated", "data-label": "Updated" }),
  );
}

/** Show `request` in its row, adding the row on top if it is new. */
function upsert(request, message) {
  let row = rowOf(request.id);
  if (!row) {
    row = newRow(request);
    tbody.prepend(row);
  }
  emptyRow.hidden = true;
  drawRequest(row, request, message);
}

async function refetch() {
  const page = await listRequests();
  tbody.querySelectorAll("tr[data-request-id]").forEach((row) => row.remove());
  for (const request of [...page.results].reverse()) upsert(request, request.message);
  emptyRow.hidden = page.results.length > 0;
}

function wireForm(form) {
  const input = form.querySelector("input[name=title]");
  const button = form.querySelector("button");
  const error = form.querySelector(".form-error");
  form.addEventListener("submit", async (submit) => {
    submit.preventDefault();
    button.disabled = true;
    error.textContent = "";
    try {
      const created = await createRequest(input.value.trim());
      if (!rowOf(created.id)) upsert(created, created.message);
      input.value = "";
    } catch (failure) {
      error.textContent = failure.message;
    } finally {
      button.disabled = false;
      input.focus();
    }
  });
}

if (page) {
  page.client.addEventListener("event", ({ detail: event }) => {
    if (event.kind === "request.status") upsert(event.request, event.message);
  });
  page.client.addEventListener("reset", () => refetch());
  wireForm(document.getElementById("new-request"));
}
