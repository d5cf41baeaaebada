// MQTT.js 5 over WebSocket (protocolVersion 4): connect with a ticket as the password, subscribe to
// notify/me/requests/+ at QoS 1, print one JSON line per step, exit after `count` messages.
// Usage: node mqtt_subscribe.mjs <ws url> <origin> <ticket> <count>
import mqtt from "mqtt";

const [url, origin, ticket, count] = process.argv.slice(2);
const print = (value) => process.stdout.write(JSON.stringify(value) + "\n");
const deadline = setTimeout(() => {
  print({ error: { timeout: true } });
  process.exit(2);
}, 20000);

const client = mqtt.connect(url, {
  protocolVersion: 4,
  clientId: "node-" + Math.random().toString(16).slice(2, 10),
  username: "ignored",
  password: ticket,
  reconnectPeriod: 0,
  wsOptions: { headers: { Origin: origin } },
});
let received = 0;

const finish = (code) => {
  clearTimeout(deadline);
  client.end(true, () => process.exit(code));
};

client.on("connect", (connack) => {
  print({ connack: { sessionPresent: connack.sessionPresent, returnCode: connack.returnCode ?? 0 } });
  client.subscribe("notify/me/requests/+", { qos: 1 }, (error, granted) => {
    if (error) {
      print({ error: { subscribe: String(error) } });
      return finish(1);
    }
    print({ suback: granted.map((g) => g.qos) });
    if (Number(count) === 0) finish(0);
  });
});
client.on("message", (topic, payload, packet) => {
  print({ topic, qos: packet.qos, dup: packet.dup, payload: JSON.parse(payload.toString()) });
  received += 1;
  if (received >= Number(count)) finish(0);
});
client.on("error", (error) => {
  print({ error: { code: error.code ?? null, message: String(error.message) } });
  finish(0);
});
