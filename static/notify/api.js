/**
 * The REST calls the pages make (PROTOCOL.md section 2), with the session cookie and the CSRF token.
 *
 * Every function returns the decoded JSON body or throws an ApiError whose
 * message is the server's `detail` (or the first field error), fit to show.
 */

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Return the CSRF token Django put in the `csrftoken` cookie. */
export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

function describe(status, body) {
  if (body && typeof body.detail === "string") return body.detail;
  if (body && typeof body === "object") {
    const [field, errors] = Object.entries(body)[0] || [];
    if (field) return `${field}: ${[].concat(errors).join(" ")}`;
  }
  return `The server answered ${status}.`;
}

async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    headers["X-CSRFToken"] = csrfToken();
  }
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, describe(response.status, answer));
  return answer;
}

/** Create a request for the signed-in user; it starts queued. */
export const createRequest = (title) => call("POST", "/api/v1/requests/", { title });

/** Return the first page of the user's requests, newest first. */
export const listRequests = () => call("GET", "/api/v1/requests/");

/** Return one request's event history, oldest first. */
export const requestEvents = (id) => call("GET", `/api/v1/requests/${encodeURIComponent(id)}/events/`);

/** Return the newest page of the user's stream, with `unread`. */
export const listNotifications = (pageSize = 20) => call("GET", `/api/v1/notifications/?page_size=${pageSize}`);

/** Mark every event up to `eventId` read; answers {up_to, unread}. */
export const markRead = (eventId) => call("POST", "/api/v1/notifications/read/", { up_to: eventId });

/** Return one request's current state. */
export const getRequest = (id) => call("GET", `/api/v1/requests/${encodeURIComponent(id)}/`);
