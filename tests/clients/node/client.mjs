// xmpp.js (@xmpp/client) as a test subject: one account, driven by JSON lines.
//
// Usage: node client.mjs SERVICE DOMAIN USERNAME PASSWORD RESOURCE
//   SERVICE is xmpp://host:port (STARTTLS) or xmpps://host:port (direct TLS).
// Prints one JSON object a line: {"event": "online", "jid": ...}, then
// {"event": "message", "from", "type", "body", "delay"} for each message,
// {"event": "roster", "items": [...]} for a roster request, {"event":
// "error", "message"} on failure. Reads commands from stdin, one JSON a line:
// {"send": {"to", "body"}}, {"roster": true}, {"quit": true}.
//
// Roster management, as an xmpp.js app does it (RFC 6121 §2): pushes are
// answered by an iqCallee handler, which refuses one from anyone but the own
// account, and printed as {"event": "push", "from", "items"}. {"rosterSet":
// {"jid", "name", "groups"}} and {"rosterRemove": {"jid"}} send a roster set
// with the iqCaller and, once both its result and the server's push for that
// JID came, print {"event": "roster-set" | "roster-removed", "push": item}.
// Each item is {"jid", "name", "subscription", "ask", "groups"}.
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

const pushes = [];
const pushWaiters = [];

function rosterItem(item) {
  return {
    jid: item.attrs.jid,
    name: item.attrs.name ?? null,
    subscription: item.attrs.subscription ?? null,
    ask: item.attrs.ask ?? null,
    groups: item.getChildren("group").map((group) => group.text()),
  };
}

xmpp.iqCallee.set("jabber:iq:roster", "query", (ctx) => {
  const from = ctx.stanza.attrs.from;
  const own = xmpp.jid && xmpp.jid.bare().toString();
  if (from && from !== own) {
    return xml("error", { type: "cancel" },
      xml("service-unavailable", "urn:ietf:params:xml:ns:xmpp-stanzas"));
  }
  const push = { from: from ?? null, items: ctx.element.getChildren("item").map(rosterItem) };
  print({ event: "push", ...push });
  pushes.push(push);
  for (const waiter of pushWaiters.splice(0)) waiter();
  return true;
});

// The first push not yet taken whose one item matches ``predicate``.
async function nextPush(predicate) {
  for (;;) {
    const index = pushes.findIndex((push) => push.items.length === 1 && predicate(push.items[0]));
    if (index >= 0) return pushes.splice(index, 1)[0].items[0];
    await new Promise((resolve) => pushWaiters.push(resolve));
  }
}

async function rosterSet(attrs, groups, predicate) {
  const item = xml("item", attrs, ...groups.map((group) => xml("group", {}, group)));
  const pushed = nextPush(predicate);
  await xmpp.iqCaller.set(xml("query", "jabber:iq:roster", item));
  return pushed;
}

xmpp.on("online", async (address) => {
  await xmpp.send(xml("presence"));
  print({ event: "online", jid: address.toString() });
});

async function roster() {
  const reply = await xmpp.iqCaller.get(xml("query", "jabber:iq:roster"));
  const items = reply.getChildren("item").map(rosterItem);
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
    } else if (command.rosterSet) {
      const { jid, name, groups } = command.rosterSet;
      const push = await rosterSet({ jid, name }, groups || [],
        (item) => item.jid === jid && item.subscription !== "remove");
      print({ event: "roster-set", push });
    } else if (command.rosterRemove) {
      const { jid } = command.rosterRemove;
      const push = await rosterSet({ jid, subscription: "remove" }, [],
        (item) => item.jid === jid && item.subscription === "remove");
      print({ event: "roster-removed", push });
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
