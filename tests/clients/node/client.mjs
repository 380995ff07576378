// xmpp.js (@xmpp/client) as a test subject: one account, driven by JSON lines.
//
// Usage: node client.mjs SERVICE DOMAIN USERNAME PASSWORD RESOURCE
//   SERVICE is xmpp://host:port (STARTTLS) or xmpps://host:port (direct TLS).
// Prints one JSON object a line: {"event": "online", "jid": ...}, then
// {"event": "message", "from", "type", "body", "delay"} for each message,
// {"event": "roster", "items": [...]} for a roster request, {"event":
// "error", "message"} on failure. Reads commands from stdin, one JSON a line:
// {"send": {"to", "body"}}, {"roster": true}, {"quit": true}.
import { client, xml } from "@xmpp/client";
import readline from "node:readline";

const [service, domain, username, password, resource] = process.argv.slice(2);
const print = (object) => process.stdout.write(JSON.stringify(object) + "\n");
const xmpp = client({ service, domain, username, password, resource });

xmpp.on("error", (err) => {
  print({ event: "error", message: String(err && (err.condition || err.message || err)) });
});

xmpp.on("stanza", (stanza) => {
  if (stanza.is("message")) {
    const delay = stanza.getChild("delay", "urn:xmpp:delay");
    print({
      event: "message",
      from: stanza.attrs.from,
      type: stanza.attrs.type || "normal",
      body: stanza.getChildText("body"),
      delay: delay ? delay.attrs.stamp : null,
    });
  }
});

xmpp.on("online", async (address) => {
  await xmpp.send(xml("presence"));
  print({ event: "online", jid: address.toString() });
});

async function roster() {
  const reply = await xmpp.iqCaller.get(xml("query", "jabber:iq:roster"));
  const items = reply.getChildren("item").map((item) => item.attrs);
  print({ event: "roster", items });
}

readline.createInterface({ input: process.stdin }).on("line", async (line) => {
  const command = JSON.parse(line);
  try {
    if (command.send) {
      await xmpp.send(xml("message", { to: command.send.to, type: "chat" },
        xml("body", {}, command.send.body)));
      print({ event: "sent", to: command.send.to });
    } else if (command.roster) {
      await roster();
    } else if (command.quit) {
      await xmpp.stop();
      process.exit(0);
    }
  } catch (err) {
    print({ event: "error", message: String(err && (err.condition || err.message || err)) });
  }
});

xmpp.start().catch((err) => {
  print({ event: "error", message: String(err && (err.condition || err.message || err)) });
  process.exit(1);
});
