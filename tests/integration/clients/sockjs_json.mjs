// sockjs-client 1.6.1 on one transport against /sockjs/notifications/: prints one JSON line per thing seen.
// usage: node sockjs_json.mjs <url> <transport>
import SockJS from "sockjs-client";

const [url, transport] = process.argv.slice(2);
const out = (value) => process.stdout.write(JSON.stringify(value) + "\n");
setTimeout(() => { out({ kind: "timeout" }); process.exit(2); }, 30000);

const sock = new SockJS(url, null, { transports: [transport] });
sock.onopen = () => out({ kind: "open" });
sock.onmessage = (message) => {
  const frame = JSON.parse(message.data);
  if (frame.type === "welcome") {
    out({ ...frame, transport: sock.transport });
    sock.send(JSON.stringify({ type: "ping", ts: "node" }));
  } else {
    out(frame);
  }
};
sock.onclose = (event) => { out({ kind: "close", code: event.code, reason: event.reason }); process.exit(0); };
