"""Building blocks for MAM (XEP-0313) transcripts: a query and the pages it returns."""

import itertools
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from tests.rawclient import NS_CLIENT, q

NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_FORWARD = "urn:xmpp:forward:0"
NS_SID = "urn:xmpp:sid:0"
NS_DATA = "jabber:x:data"
MAM_ON = {"mam": {"enabled": True}}

_numbers = itertools.count(1)


def form(fields):
    if not fields:
        return ""
    parts = ["<field var='FORM_TYPE' type='hidden'><value>%s</value></field>" % NS_MAM]
    for var, value in fields.items():
        values = value if isinstance(value, list) else [value]
        parts.append("<field var=%s>%s</field>" % (quoteattr(var), "".join(
            "<value>%s</value>" % escape(v) for v in values)))
    return "<x xmlns='%s' type='submit'>%s</x>" % (NS_DATA, "".join(parts))


def rsm(max=None, after=None, before=None):
    parts = []
    if max is not None:
        parts.append("<max>%d</max>" % max)
    if after is not None:
        parts.append("<after>%s</after>" % escape(after))
    if before is not None:
        parts.append("<before>%s</before>" % escape(before) if before else "<before/>")
    return "<set xmlns='%s'>%s</set>" % (NS_RSM, "".join(parts)) if parts else ""


class Page:
    """What one query brought: the forwarded messages, in order, and the fin."""

    def __init__(self, results, iq):
        self.results = results
        self.iq = iq
        self.fin = iq.find(q(NS_MAM, "fin"))

    @property
    def ids(self):
        return [r.find(q(NS_MAM, "result")).get("id") for r in self.results]

    @property
    def messages(self):
        return [r.find(q(NS_MAM, "result")).find(q(NS_FORWARD, "forwarded"))
                .find(q(NS_CLIENT, "message")) for r in self.results]

    @property
    def bodies(self):
        return [m.findtext(q(NS_CLIENT, "body")) for m in self.messages]

    @property
    def complete(self):
        return self.fin.get("complete") == "true"

    def rsm(self, name):
        return self.fin.find(q(NS_RSM, "set")).findtext(q(NS_RSM, name))


async def query(client, fields=None, paging="", extra="", to=None):
    """Send a MAM query; return its Page, or the error IQ as ``Page.iq`` (no fin)."""
    number = next(_numbers)
    queryId, iqId = "q%d" % number, "mam%d" % number
    target = " to='%s'" % to if to else ""
    client.sendRaw("<iq type='set' id='%s'%s><query xmlns='%s' queryid='%s'>%s%s%s</query></iq>"
                   % (iqId, target, NS_MAM, queryId, form(fields or {}), paging, extra))
    results = []
    while True:
        element = await client.expect()
        if element.tag == q(NS_CLIENT, "iq") and element.get("id") == iqId:
            return Page(results, element)
        if element.tag == q(NS_CLIENT, "message"):
            result = element.find(q(NS_MAM, "result"))
            if result is not None:
                assert result.get("queryid") == queryId, ET.tostring(element)
                results.append(element)


async def iq(client, payload, type="get", id=None, to=None):
    id = id or "iq%d" % next(_numbers)
    target = " to='%s'" % to if to else ""
    client.sendRaw("<iq type='%s' id='%s'%s>%s</iq>" % (type, id, target, payload))
    while True:
        element = await client.expect()
        if element.tag == q(NS_CLIENT, "iq") and element.get("id") == id:
            return element


def stanzaIds(message, by=None):
    return [(e.get("by"), e.get("id")) for e in message.findall(q(NS_SID, "stanza-id"))
            if by is None or e.get("by") == by]


async def tableRows(xmpp, sql, *args):
    """Rows of a query on the server's database, as tuples."""
    from tests.aio import wait
    return [tuple(row) for row in await wait(xmpp.storage.database.runQuery(sql, args))]


async def copiesFor(xmpp, owner):
    """
    Where the stanzas kept for ``owner`` are: rows of the archive, queue
    rows referring to it, queue rows holding a copy, rows of the offline
    module's own queue.
    """
    [(archived,)] = await tableRows(
        xmpp, "SELECT COUNT(*) FROM mam_messages WHERE owner = ?", owner)
    [(references, copies)] = await tableRows(
        xmpp, "SELECT COUNT(archive_id), COUNT(xml) FROM mam_offline WHERE recipient = ?", owner)
    [(own,)] = await tableRows(
        xmpp, "SELECT COUNT(*) FROM offline_messages WHERE recipient = ?", owner)
    return {"archive": int(archived), "references": int(references), "copies": int(copies),
            "offline_messages": int(own)}
