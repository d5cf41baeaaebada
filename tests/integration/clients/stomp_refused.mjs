// stompjs 7 over `ws` with neither session nor ticket: prints the ERROR it gets and the close code.
// Usage: node stomp_refused.mjs <ws url> <origin>
import { Client } from "@stomp/stompjs";
import WebSocket from "ws";

const [url, origin] = process.argv.slice(2);
const print = (line) => console.log(JSON.stringify(line));
const deadline = setTimeout(() => { print({ frame: "TIMEOUT" }); process.exit(2); }, 20000);

const client = new Client({
  webSocketFactory: () => new WebSocket(url, ["v12.stomp", "v11.stomp"], { headers: { Origin: origin } }),
  reconnectDelay: 0,
});
client.onConnect = () => print({ frame: "CONNECTED" });
client.onStompError = (frame) => print({ frame: "ERROR", message: frame.headers.message });
client.onWebSocketClose = (event) => {
  print({ closed: event.code });
  clearTimeout(deadline);
  client.deactivate();
};
client.activate();
