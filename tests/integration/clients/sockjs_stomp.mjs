// @stomp/stompjs 7 over sockjs-client 1.6.1 (one transport) against /sockjs/stomp/: prints one JSON line per thing seen.
// usage: node sockjs_stomp.mjs <url> <transport>
import { Client } from "@stomp/stompjs";
import SockJS from "sockjs-client";

const [url, transport] = process.argv.slice(2);
const out = (value) => process.stdout.write(JSON.stringify(value) + "\n");
setTimeout(() => { out({ kind: "timeout" }); process.exit(2); }, 30000);

const client = new Client({
  webSocketFactory: () => new SockJS(url, null, { transports: [transport] }),
  reconnectDelay: 0,
  heartbeatIncoming: 0,
  heartbeatOutgoing: 0,
});
client.onConnect = (frame) => {
  out({ kind: "connected", version: frame.headers.version, user: frame.headers["user-name"] });
  client.watchForReceipt("subscribed", () => out({ kind: "receipt", id: "subscribed" }));
  client.subscribe("/user/queue/notifications", (message) => {
    out({ kind: "message", destination: message.headers.destination, body: JSON.parse(message.body) });
  }, { receipt: "subscribed" });
};
client.onStompError = (frame) => out({ kind: "error", message: frame.headers.message });
client.onWebSocketClose = (event) => { out({ kind: "close", code: event.code }); process.exit(0); };
client.activate();
