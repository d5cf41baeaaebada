// stompjs 7 over `ws`, signed in by cookie: after CONNECTED, does what `mode` says and prints the ERROR
// and the close code it then sees. Modes: oversize (a 70 KB SEND), flood (200 SUBSCRIBE/UNSUBSCRIBE
// pairs at once), wait (nothing: the test ends the session). Exits within its deadline.
// Usage: node stomp_closes.mjs <ws url> <origin> <cookie> <mode>
import { Client } from "@stomp/stompjs";
import WebSocket from "ws";

const [url, origin, cookie, mode] = process.argv.slice(2);
const print = (line) => console.log(JSON.stringify(line));
const deadline = setTimeout(() => { print({ frame: "TIMEOUT" }); process.exit(2); }, 30000);

const client = new Client({
  webSocketFactory: () => new WebSocket(url, ["v12.stomp", "v11.stomp"], { headers: { Origin: origin, Cookie: cookie } }),
  reconnectDelay: 0,
  heartbeatIncoming: 0,
  heartbeatOutgoing: 0,
});
client.onConnect = () => {
  print({ frame: "CONNECTED" });
  if (mode === "oversize") {
    client.publish({ destination: "/topic/announcements", body: "x".repeat(70000) });
  } else if (mode === "flood") {
    for (let index = 0; index < 200; index += 1) {
      client.subscribe("/topic/announcements", () => {}, { id: `s${index}` }).unsubscribe();
    }
  }
};
client.onStompError = (frame) => print({ frame: "ERROR", message: frame.headers.message });
client.onWebSocketClose = (event) => {
  print({ closed: event.code });
  clearTimeout(deadline);
  client.deactivate();
};
client.activate();
