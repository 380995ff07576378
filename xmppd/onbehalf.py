"""
IQs to an account's bare JID that the server answers for the account.

RFC 6121 §8.5.1: an IQ to the bare JID of an account is the server's to
answer on the account's behalf, and for an account that does not exist it
is ``service-unavailable``, the same answer as for a feature nobody offers,
so that the reply does not tell which accounts exist. Disco#info on the bare
JID lists exactly what the modules answer this way (``IDisco`` handlers see
the target and say so).
"""

from twisted.python import log
from twisted.words.protocols.jabber.jid import JID


def accountTarget(stanza):
    """The bare JID a stanza is addressed to, or None if it is not for an account."""
    to = stanza.getAttribute("to")
    if not to:
        return None
    jid = JID(to)
    return jid if jid.user and not jid.resource else None


def isForAccount(target):
    """Whether a disco target is an account's bare JID (rather than the host)."""
    return bool(target and target.user and not target.resource)


def answerOnBehalf(host, iq, respond):
    """
    Take ``iq`` now and answer it with ``respond(iq)`` (a response element,
    or a Deferred of one) once the account is known to exist.
    """
    iq.handled = True
    d = host.isLocalUser(accountTarget(iq))

    def answer(exists):
        if not exists:
            return host.bounce(iq, "service-unavailable", "cancel")
        from twisted.internet import defer
        return defer.maybeDeferred(respond, iq).addCallback(host.send)

    def failed(failure):
        log.err(failure, "answering %s for an account" % (iq.toXml(),))
        host.bounce(iq, "internal-server-error", "wait")

    d.addCallback(answer)
    d.addErrback(failed)
    return d
