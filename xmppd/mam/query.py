"""
A MAM query as the client writes it (XEP-0313 §4, XEP-0059), and the
stanzas that answer it.

The form's filters (``with``, ``start``, ``end``, and from ``#extended``
``before-id``, ``after-id``, ``ids``) select a result set; RSM pages
through it: ``<after>`` forwards, ``<before>`` (empty: from the end)
backwards, ``<max>`` the page size. ``<flip-page/>`` returns a page
newest first. ``<fin complete='true'>`` says the page holds the last
message in the direction of paging. Anything else in the form is refused
with ``bad-request`` naming it, so a client never takes an unsupported
filter for an empty result.
"""

from datetime import datetime, timezone

from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmppd.mam.store import MAX_IDS, ArchiveQuery

NS_MAM = "urn:xmpp:mam:2"
NS_MAM_EXTENDED = "urn:xmpp:mam:2#extended"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_FORWARD = "urn:xmpp:forward:0"
NS_DELAY = "urn:xmpp:delay"
NS_DATA = "jabber:x:data"

FIELDS = [
    ("with", "jid-single"), ("start", "text-single"), ("end", "text-single"),
    ("before-id", "text-single"), ("after-id", "text-single"), ("ids", "list-multi"),
]


def formatStamp(microseconds):
    moment = datetime.fromtimestamp(microseconds // 1_000_000, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + ".%06dZ" % (microseconds % 1_000_000)


def parseStamp(text, field):
    """XEP-0082 date-time to µs; bad-request naming the field otherwise."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise StanzaError("bad-request", text="%s is not a XEP-0082 date-time" % field)
    if moment.tzinfo is None:
        raise StanzaError("bad-request", text="%s needs a time zone (e.g. Z)" % field)
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _formValues(form):
    values = {}
    for field in form.elements(NS_DATA, "field"):
        var = field.getAttribute("var")
        values[var] = [str(v) for v in field.elements(NS_DATA, "value")]
    return values


class MamRequest:
    """A parsed query: the store's ArchiveQuery and how to answer it."""

    def __init__(self, query, queryId, flip, countOnly):
        self.query = query
        self.queryId = queryId
        self.flip = flip
        self.countOnly = countOnly


def parseQuery(element, owner, pageSize, maxPageSize, alwaysCount):
    queryId = element.getAttribute("queryid")
    if queryId is not None and len(queryId) > 256:
        raise StanzaError("bad-request", text="queryid is longer than 256 characters")
    fields = {}
    for form in element.elements(NS_DATA, "x"):
        fields = _formValues(form)
    formType = fields.pop("FORM_TYPE", [NS_MAM])
    if formType != [NS_MAM]:
        raise StanzaError("bad-request", text="FORM_TYPE must be %s" % NS_MAM)
    known = dict(FIELDS)
    for var in fields:
        if var not in known:
            raise StanzaError("bad-request", text="unsupported field %r" % (var,))
    single = {var: (values[0].strip() if values else "") for var, values in fields.items()}
    query = ArchiveQuery(owner)
    if single.get("with"):
        try:
            contact = JID(single["with"])
        except Exception:
            raise StanzaError("jid-malformed", text="with is not a JID")
        query.withBare = contact.userhost()
        query.withResource = contact.resource
    if single.get("start"):
        query.start = parseStamp(single["start"], "start")
    if single.get("end"):
        query.end = parseStamp(single["end"], "end")
    if single.get("after-id"):
        query.afterIds.append(single["after-id"])
    if single.get("before-id"):
        query.beforeIds.append(single["before-id"])
    if "ids" in fields:
        ids = [v.strip() for v in fields["ids"] if v.strip()]
        if len(ids) > MAX_IDS:
            raise StanzaError("policy-violation", text="at most %d ids" % MAX_IDS)
        query.ids = ids
    query.limit = pageSize
    countOnly = False
    for rsm in element.elements(NS_RSM, "set"):
        for child in rsm.elements():
            text = str(child).strip()
            if child.name == "max":
                if not text.isdigit():
                    raise StanzaError("bad-request", text="max must be a non-negative integer")
                query.limit = min(int(text), maxPageSize)
                countOnly = int(text) == 0
            elif child.name == "after":
                if not text:
                    raise StanzaError("bad-request", text="after needs an id")
                query.afterIds.append(text)
            elif child.name == "before":
                query.backward = True
                if text:
                    query.beforeIds.append(text)
            elif child.name == "index":
                raise StanzaError("feature-not-implemented",
                                  text="paging by index is not supported; use after/before")
    query.count = alwaysCount or countOnly
    flip = any(True for _ in element.elements(NS_MAM, "flip-page"))
    return MamRequest(query, queryId, flip, countOnly)


def resultMessage(to, owner, queryId, stanzaId, stamp, xml):
    """One archived message as a §4.2 result: forwarded, with its archive time."""
    message = domish.Element((None, "message"))
    message["to"] = to
    message["from"] = owner
    result = message.addElement((NS_MAM, "result"))
    if queryId is not None:
        result["queryid"] = queryId
    result["id"] = stanzaId
    forwarded = result.addElement((NS_FORWARD, "forwarded"))
    delay = forwarded.addElement((NS_DELAY, "delay"))
    delay["stamp"] = formatStamp(stamp)
    forwarded.addRawXml(xml)
    return message


def finElement(page, rows, flip, countOnly):
    fin = domish.Element((NS_MAM, "fin"))
    if page.complete and not countOnly:
        fin["complete"] = "true"
    rsm = fin.addElement((NS_RSM, "set"))
    if rows:
        rsm.addElement("first", content=rows[0][0])
        rsm.addElement("last", content=rows[-1][0])
    if page.count is not None:
        rsm.addElement("count", content=str(page.count))
    return fin


def fieldsForm():
    """§4.1.1: the fields a query may use, as a form to fill in."""
    form = domish.Element((NS_DATA, "x"))
    form["type"] = "form"
    field = form.addElement("field")
    field["var"] = "FORM_TYPE"
    field["type"] = "hidden"
    field.addElement("value", content=NS_MAM)
    for var, kind in FIELDS:
        field = form.addElement("field")
        field["var"] = var
        field["type"] = kind
    return form
