/**
 * What every signed-in page runs: the socket client, the connection state, the notification
 * centre, toasts, the announcement banner, the screen-reader announcements, and the marker
 * that marks events read once a visible tab showed them.
 *
 * Imported by each page's own module (dashboard.js, detail.js) or used as the
 * page's module itself; it starts once and exports `page` = {client, centre,
 * announcer}, or null on a page without a signed-in user.
 */

import { AnnouncementBanner } from "./announcements.js";
import { Announcer } from "./announcer.js";
import { NotificationClient } from "./client.js";
import { ConnectionState } from "./connection-state.js";
import { localizeTimes, statusWords } from "./dom.js";
import { markRead } from "./api.js";
import { describeEvent, NotificationCentre } from "./notification-centre.js";
import { SeenMarker } from "./seen-marker.js";
import { Toasts } from "./toasts.js";

/** Toast and speak status changes (not every progress step) and announcements. */
function announceEvents(client, { announcer, toasts, banner, centre }) {
  const lastStatus = new Map();
  client.addEventListener("event", ({ detail: event }) => {
    const described = describeEvent(event);
    if (event.kind === "announcement") {
      banner.show(event);
      toasts.show({ ...described, level: event.level, key: event.id });
      announcer.announce(`Announcement: ${event.title}`);
      return;
    }
    const { id, title, status, progress } = event.request;
    if (lastStatus.get(id) === status) return;
    lastStatus.set(id, status);
    toasts.show({ ...described, level: status, key: id });
    announcer.announce(`${title}: ${statusWords(status, progress)}`);
  });
  centre.load().then((loaded) => {
    const announcement = loaded.results.find((event) => event.kind === "announcement");
    if (announcement && !announcement.read) banner.show(announcement);
  }, (error) => console.warn("could not load notifications:", error.message));
}

function startPage() {
  localizeTimes();
  const userId = document.body.dataset.userId;
  if (!userId) return null;
  const loginUrl = document.body.dataset.loginUrl;
  const client = new NotificationClient({ userId, loginUrl });
  const announcer = new Announcer(document.getElementById("live-region"));
  const parts = {
    announcer,
    toasts: new Toasts(document.getElementById("toasts")),
    banner: new AnnouncementBanner(document.getElementById("announcement")),
    centre: new NotificationCentre(document.getElementById("notification-centre")).follow(client),
  };
  new ConnectionState(document.getElementById("connection"), document.getElementById("signed-out"), announcer, loginUrl)
    .follow(client);
  announceEvents(client, parts);
  new SeenMarker({ markRead }).follow(client);
  // Start after the importing page module has added its listeners (it runs right after this one).
  queueMicrotask(() => client.start());
  // For tests and the console: the live client of this page.
  window.notify = { client };
  return { client, ...parts };
}

export const page = startPage();
