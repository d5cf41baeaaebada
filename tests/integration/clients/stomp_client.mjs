// stompjs 7 over `ws`: subscribe with a cursor and a receipt, publish one event on the other instance,
// ACK it, then read the unread count. Prints one JSON line per step; exits within its deadline.
// Usage: node stomp_client.mjs <ws url> <origin> <cookie> <destination> <cursor> <publish JSON>
import { Client } from "@stomp/stompjs";
import WebSocket from "ws";

const [url, origin, cookie, destination, cursor, publishJson] = process.argv.slice(2);
const publish = JSON.parse(publishJson);
const print = (line) => console.log(JSON.stringify(line));
const deadline = setTimeout(() => { print({ frame: "TIMEOUT" }); process.exit(2); }, 30000);

const client = new Client({
  webSocketFactory: () => new WebSocket(url, ["v12.stomp", "v11.stomp", "v10.stomp"], { headers: { Origin: origin, Cookie: cookie } }),
  reconnectDelay: 0,
  heartbeatIncoming: 0,
  heartbeatOutgoing: 0,
});

async function publishLive() {
  const answer = await fetch(`${publish.origin}/api/v1/events/`, {
    method: "POST",
    headers: { Authorization: `Token ${publish.token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ request: publish.request, status: "processing", progress: 70 }),
  });
  if (answer.status !== 202) throw new Error(`publish answered ${answer.status}`);
}

async function unread() {
  const answer = await fetch(`${origin}/api/v1/notifications/`, { headers: { Cookie: cookie } });
  return (await answer.json()).unread;
}

client.onConnect = (frame) => {
  print({ frame: "CONNECTED", headers: frame.headers });
  client.watchForReceipt("replayed", () => {
    print({ frame: "RECEIPT" });
    publishLive().catch((error) => { print({ frame: "FAILED", error: String(error) }); process.exit(3); });
  });
  client.subscribe(destination, (message) => {
    const body = JSON.parse(message.body);
    print({ frame: "MESSAGE", headers: message.headers, body });
    if (body.request.progress === 70) {
      client.watchForReceipt("acked", async () => {
        print({ frame: "ACKED", unread: await unread() });
        clearTimeout(deadline);
        await client.deactivate();
      });
      message.ack({ receipt: "acked" });
    }
  }, { id: "s1", ack: "client-individual", cursor, receipt: "replayed" });
};
client.onStompError = (frame) => { print({ frame: "ERROR", message: frame.headers.message }); process.exit(4); };
client.activate();
