"""
Stream management (XEP-0198): acknowledgements both ways and resumption.

The core keeps the books this module speaks about: every session numbers
the stanzas it writes and keeps the unacknowledged ones (``xmppd.acks``),
and counts the client's stanzas once they are handled -- routed to a live
session, stored, or bounced -- so that the ``h`` we send promises only what
survives a crash. This module turns those books into XEP-0198's nonzas:

- ``<enable/>`` after binding, with ``resume='true'`` for a session that
  hibernates when its connection is lost instead of ending;
- ``<r/>`` and ``<a h/>`` both ways (``h`` counts stanzas from ``enable``
  on, modulo 2^32, XEP-0198 §4);
- ``<resume previd h/>`` after authentication: the hibernating session moves
  to the new stream and the client gets, in order, every stanza it lacks;
- a hibernating session still receives, into its queue, for
  ``resume_timeout``; then it ends, and its unacknowledged messages are
  routed again -- to another resource or to offline storage -- like those
  of any session that ends (``xmppd.sessions``).
"""

import uuid

from twisted.words.protocols.jabber import error
from twisted.words.xish import domish
from wokkel.subprotocols import XMPPHandler

from xmppd.api import RESOURCE_RESUMED, RESOURCE_UNBOUND

NS_SM = "urn:xmpp:sm:3"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
WRAP = 2 ** 32
# Fired with (session) once a hibernating session continues on a new stream.


class StreamManagementState:
    """XEP-0198 on one session: the counters' origin and the resumption id."""

    def __init__(self, module, session, resumable):
        self.module = module
        self.resumable = resumable
        self.id = uuid.uuid4().hex if resumable else None
        self.maxUnacked = module.maxUnacked
        # h counts from enable; the session's books count from bind.
        self.outBase = session.acks.written
        self.inBase = session.received
        self.timer = None

    def inboundH(self, session):
        return max(0, session.handled - self.inBase) % WRAP

    def outboundNumber(self, session, h):
        """The session's number for the client's ``h`` (which wraps at 2^32)."""
        sent = session.acks.written - self.outBase
        behind = (sent - h) % WRAP
        return session.acks.written - behind

    def requestAck(self, session):
        session.stream.send(domish.Element((NS_SM, "r")))

    def hibernated(self, session):
        self.timer = self.module.clock.callLater(
            self.module.resumeTimeout, self.module.expire, session)


class StreamManagement(XMPPHandler):
    def __init__(self, host, options, clock=None):
        XMPPHandler.__init__(self)
        self.host = host
        self.clock = clock if clock is not None else host.clock
        self.resumeTimeout = options.resume_timeout
        self.maxUnacked = options.max_unacked
        self.resumable = {}
        host.addStreamFeature(domish.Element((NS_SM, "sm")), "bound")
        host.addNonzaHandler(NS_SM, self.onNonza)

    def onNonza(self, negotiator, element):
        handler = {"enable": self.onEnable, "r": self.onRequest, "a": self.onAck,
                   "resume": self.onResume}.get(element.name)
        if handler is None:
            return negotiator.xmlstream.sendStreamError(
                error.StreamError("unsupported-stanza-type"))
        return handler(negotiator, element)

    # Enabling --------------------------------------------------------------------

    def onEnable(self, negotiator, element):
        session = negotiator.session
        if session is None or session.streamManagement is not None:
            # §3: enable comes once, and only after a resource is bound.
            return _failed(negotiator.xmlstream, "unexpected-request")
        resumable = element.getAttribute("resume") in ("true", "1")
        state = StreamManagementState(self, session, resumable)
        session.streamManagement = state
        enabled = domish.Element((NS_SM, "enabled"))
        if resumable:
            self.resumable[state.id] = session
            enabled["id"] = state.id
            enabled["resume"] = "true"
            enabled["max"] = str(int(self.resumeTimeout))
        negotiator.xmlstream.send(enabled)

    # Acknowledgements ------------------------------------------------------------

    def onRequest(self, negotiator, element):
        session = negotiator.session
        if session is None or session.streamManagement is None:
            return _failed(negotiator.xmlstream, "unexpected-request")
        answer = domish.Element((NS_SM, "a"))
        answer["h"] = str(session.streamManagement.inboundH(session))
        negotiator.xmlstream.send(answer)

    def onAck(self, negotiator, element):
        session = negotiator.session
        if session is None or session.streamManagement is None:
            return _failed(negotiator.xmlstream, "unexpected-request")
        h = _parseH(element)
        if h is None:
            return negotiator.xmlstream.sendStreamError(
                error.StreamError("bad-format", text="h must be a number"))
        state = session.streamManagement
        if (h - (session.acks.acked - state.outBase)) % WRAP > \
                session.acks.written - session.acks.acked:
            # §4: acknowledging more than was sent is a broken peer.
            return negotiator.xmlstream.sendStreamError(error.StreamError(
                "undefined-condition", text="acknowledged more stanzas than were sent"))
        session.acknowledged(state.outboundNumber(session, h))

    # Resumption ------------------------------------------------------------------

    def onResume(self, negotiator, element):
        xs = negotiator.xmlstream
        if negotiator.session is not None:
            return _failed(xs, "unexpected-request")
        h = _parseH(element)
        session = self.resumable.get(element.getAttribute("previd", ""))
        account = "%s@%s" % (negotiator.username, negotiator.host)
        if session is None or session.closed or session.bareJID.full() != account:
            return _failed(xs, "item-not-found")
        state = session.streamManagement
        if h is None:
            return _failed(xs, "bad-request", state.inboundH(session))
        if session.stream is not None:
            # The client came back before its old connection was seen to die.
            old = session.stream
            old.authenticator.session = None
            session.hibernate()
            old.sendStreamError(error.StreamError("conflict", text="resumed elsewhere"))
        if state.timer is not None and state.timer.active():
            state.timer.cancel()
        state.timer = None
        negotiator.session = session
        resumed = domish.Element((NS_SM, "resumed"))
        resumed["previd"] = state.id
        resumed["h"] = str(state.inboundH(session))
        xs.send(resumed)
        session.resumeOn(xs, state.outboundNumber(session, h))
        if session.acks.written > session.acks.acked:
            state.requestAck(session)
        self.host.events.fire(RESOURCE_RESUMED, session)

    def expire(self, session):
        """The client did not resume in time: the session ends (and re-routes)."""
        state = session.streamManagement
        state.timer = None
        self.resumable.pop(state.id, None)
        if session.hibernating and not session.closed:
            session.manager.unbind(session)

    def onResourceUnbound(self, session):
        state = session.streamManagement
        if state is None:
            return
        self.resumable.pop(state.id, None)
        if state.timer is not None and state.timer.active():
            state.timer.cancel()

    def connectionInitialized(self):
        self.host.events.hook(RESOURCE_UNBOUND, self.onResourceUnbound)

    def connectionLost(self, reason):
        self.host.events.unhook(RESOURCE_UNBOUND, self.onResourceUnbound)
        for session in list(self.resumable.values()):
            state = session.streamManagement
            if state.timer is not None and state.timer.active():
                state.timer.cancel()
        XMPPHandler.connectionLost(self, reason)


def _parseH(element):
    try:
        h = int(element.getAttribute("h", ""))
    except ValueError:
        return None
    return h if 0 <= h < WRAP else None


def _failed(xs, condition, h=None):
    failed = domish.Element((NS_SM, "failed"))
    if h is not None:
        failed["h"] = str(h)
    failed.addElement((NS_STANZAS, condition))
    xs.send(failed)


def handlersFor(host, options):
    return [StreamManagement(host, options)]
