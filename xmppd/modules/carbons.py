"""
Message Carbons (XEP-0280): every resource of an account that asks for it
sees the account's one-to-one conversations, whichever resource they
reach or come from.

- ``received``: a message routing delivers to some of the recipient's
  resources is copied to its other available resources that enabled
  carbons -- at the moment the router acts (``message/route``), so a
  message that goes to offline storage, or is delivered from it later, is
  never copied (§6: the delayed copy would duplicate it);
- ``sent``: a message a client sends is copied to the sender's other
  resources that enabled carbons (``client/outbound``).

Eligible are chat messages and normal ones with a body (§6), never errors,
and never a message marked ``<private/>`` (§7) or ``<no-copy/>`` (XEP-0334).
"""

from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish
from wokkel.subprotocols import IQHandlerMixin, XMPPHandler

from xmppd.api import CLIENT_OUTBOUND as CLIENT_OUTBOUND_EVENT
from xmppd.api import MESSAGE_ROUTE as ROUTE_EVENT
from xmppd.api import DELIVER, RESOURCE_UNBOUND, copyStanza

NS_CARBONS = "urn:xmpp:carbons:2"
NS_CARBONS_RULES = "urn:xmpp:carbons:rules:0"
NS_FORWARD = "urn:xmpp:forward:0"
NS_HINTS = "urn:xmpp:hints"
ENABLE = "/iq[@type='set']/enable[@xmlns='%s']" % NS_CARBONS
DISABLE = "/iq[@type='set']/disable[@xmlns='%s']" % NS_CARBONS
# After every other hook of the router's moment (AMP may still take it).
PRIORITY = -10


def eligible(message):
    kind = message.getAttribute("type", "normal")
    if kind not in ("chat", "normal"):
        return False
    children = [(c.uri, c.name) for c in message.elements()]
    if kind == "normal" and (message.uri, "body") not in children:
        return False
    for uri, name in children:
        if (uri, name) in ((NS_CARBONS, "private"), (NS_HINTS, "no-copy")):
            return False
        if uri == NS_CARBONS:
            # A carbon itself, or something pretending to be one.
            return False
    return True


def carbon(kind, message, account, to):
    """The §§ 6–7 wrapper: from the account's bare JID, the message forwarded inside."""
    copy = domish.Element((None, "message"))
    copy["from"] = account
    copy["to"] = to
    copy["type"] = message.getAttribute("type", "normal")
    forwarded = copy.addElement((NS_CARBONS, kind)).addElement((NS_FORWARD, "forwarded"))
    forwarded.addChild(copyStanza(message))
    return copy


class CarbonsHandler(XMPPHandler, IQHandlerMixin):
    iqHandlers = {ENABLE: "onEnable", DISABLE: "onDisable"}

    def __init__(self, host):
        XMPPHandler.__init__(self)
        self.host = host
        # Account (bare JID) -> its resources on this node that enabled
        # carbons: an account without any costs every message one look-up.
        # On a cluster another node's resources may have carbons on, which
        # only the session registry knows; there every message asks it.
        self.enabled = {}
        cluster = host.config.cluster
        self.countsEveryResource = cluster is None or not cluster.enabled
        self._copying = True
        host.addDiscoFeature(NS_CARBONS)
        # §6: which messages are copied follows the XEP's rules, as stated.
        host.addDiscoFeature(NS_CARBONS_RULES)

    def connectionInitialized(self):
        self.xmlstream.addObserver(ENABLE, self.handleRequest)
        self.xmlstream.addObserver(DISABLE, self.handleRequest)
        self.host.events.hook(ROUTE_EVENT, self.onRoute, PRIORITY)
        self.host.events.hook(CLIENT_OUTBOUND_EVENT, self.onOutbound, PRIORITY)
        self.host.events.hook(RESOURCE_UNBOUND, self.onUnbound)
        self._copying = True
        self._enabledChanged()

    def connectionLost(self, reason):
        self.host.events.unhook(ROUTE_EVENT, self.onRoute)
        self.host.events.unhook(CLIENT_OUTBOUND_EVENT, self.onOutbound)
        self.host.events.unhook(RESOURCE_UNBOUND, self.onUnbound)
        XMPPHandler.connectionLost(self, reason)

    # The switch (§4, §5) -------------------------------------------------------------

    def onEnable(self, iq):
        session = self._sessionOf(iq)
        session.carbons = True
        self.enabled.setdefault(session.bareJID.userhost(), set()).add(session)
        self._enabledChanged()

    def onDisable(self, iq):
        session = self._sessionOf(iq)
        session.carbons = False
        self._forget(session)

    def onUnbound(self, session):
        self._forget(session)

    def _forget(self, session):
        account = session.bareJID.userhost()
        sessions = self.enabled.get(account)
        if sessions is not None:
            sessions.discard(session)
            if not sessions:
                del self.enabled[account]
                self._enabledChanged()

    def _enabledChanged(self):
        """
        While no resource of the host has carbons on, no message is copied:
        the hooks are suspended, and a message costs carbons nothing. (On a
        cluster another node's resources may have them on: always hooked.)
        """
        copying = bool(self.enabled) or not self.countsEveryResource
        if copying == self._copying:
            return
        self._copying = copying
        events = self.host.events
        for name, handler in ((ROUTE_EVENT, self.onRoute),
                              (CLIENT_OUTBOUND_EVENT, self.onOutbound)):
            if copying:
                events.resume(name, handler)
            else:
                events.suspend(name, handler)

    def _sessionOf(self, iq):
        from twisted.words.protocols.jabber.error import StanzaError
        sender = JID(iq["from"])
        to = iq.getAttribute("to")
        session = self.host.sessions.get(sender)
        if session is None or (to and JID(to).userhostJID() != sender.userhostJID()):
            raise StanzaError("not-allowed", "cancel", "carbons are set by a resource for itself")
        return session

    # The copies ------------------------------------------------------------------------

    # Who wants a copy is asked first: most accounts have no other resource
    # with carbons on, and then the message is never looked into.

    def onRoute(self, message, routing):
        if routing.verdict != DELIVER or not routing.sessions:
            return None
        reached = routing.sessions
        # Every session routing reached is one of the recipient account's.
        account = reached[0].bareJID
        interested = self._interested(account, reached)
        if not interested or not eligible(message):
            return None
        for session in interested:
            session.send(carbon("received", message, account.full(), session.jid.full()))
        return None

    def onOutbound(self, sender, stanza):
        if stanza.name != "message":
            return None
        interested = self._interested(sender.bareJID, (sender,))
        if not interested or not eligible(stanza):
            return None
        to = JID(stanza["to"])
        for session in interested:
            if to.resource and to == session.jid:
                continue
            session.send(carbon("sent", stanza, sender.bareJID.full(), session.jid.full()))
        return None

    def _interested(self, account, excluded):
        if self.countsEveryResource and account.userhost() not in self.enabled:
            return ()
        return [s for s in self.host.sessions.resources(account)
                if getattr(s, "carbons", False) and s.available and s not in excluded]


def handlersFor(host, options):
    return [CarbonsHandler(host)]
