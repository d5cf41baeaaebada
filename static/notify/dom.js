/**
 * Building DOM nodes from data without ever parsing data as HTML.
 *
 * `h("td", {class: "title"}, request.title)` sets text with textContent, so a
 * title like "<script>" is shown as those characters. There is no innerHTML here.
 */

/** Return an element with attributes (`class`, `data-*`, aria-*, ...) and text or element children. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const TIME_FORMAT = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const DATE_TIME_FORMAT = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** Return a <time> for an ISO timestamp, shown in the viewer's time zone. */
export function timeElement(iso, { withDate = false } = {}) {
  const date = new Date(iso);
  const text = Number.isNaN(date.getTime()) ? "" : (withDate ? DATE_TIME_FORMAT : TIME_FORMAT).format(date);
  return h("time", { datetime: iso, title: iso }, text);
}

/** Rewrite server-rendered <time data-local> elements into the viewer's time zone. */
export function localizeTimes(root = document) {
  for (const node of root.querySelectorAll("time[data-local]")) {
    node.replaceWith(timeElement(node.getAttribute("datetime"), { withDate: node.dataset.local === "date" }));
  }
}

/** Return "processing 40 %", the words a status badge and a screen reader use. */
export function statusWords(status, progress) {
  return status === "processing" && Number.isInteger(progress) ? `${status} ${progress} %` : status;
}
