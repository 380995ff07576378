"""
The ``msgoffline`` IQ (Tigase; SPEC §4): a user reads or sets their own
per-pair limit of stored offline messages.

The value lives in the settings store under node ``offline-msgs``, key
``store-limit``, as the text the user gave ("0", "10", "false"), where the
offline service reads it for every message to that user. The checks run in
the order of SPEC's table: someone else's account first, then whether
offline storage runs at all, then whether users may set limits.
"""

from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish
from wokkel.subprotocols import IQHandlerMixin, XMPPHandler

from xmppd.api import IOfflineService

from xmppd.offline.service import LIMIT_KEY, LIMIT_NODE

NS_MSGOFFLINE = "msgoffline"
QUERY_GET = "/iq[@type='get']/msgoffline[@xmlns='msgoffline']"
QUERY_SET = "/iq[@type='set']/msgoffline[@xmlns='msgoffline']"
# The largest limit a user may set: ample for any queue, and small enough
# that no store or driver overflows on it.
MAX_LIMIT = 10 ** 6


class MsgOfflineHandler(XMPPHandler, IQHandlerMixin):
    iqHandlers = {QUERY_GET: "onGet", QUERY_SET: "onSet"}

    def __init__(self, host):
        XMPPHandler.__init__(self)
        self.host = host

    def connectionInitialized(self):
        self.xmlstream.addObserver(QUERY_GET, self.handleRequest)
        self.xmlstream.addObserver(QUERY_SET, self.handleRequest)

    def _account(self, iq):
        sender = JID(iq["from"]).userhostJID()
        to = iq.getAttribute("to")
        if to is not None and JID(to).userhostJID() != sender:
            raise StanzaError("forbidden", "auth",
                              "offline limits can be read and set only on your own account")
        offline = self.host.optionalService(IOfflineService)
        if offline is None or not offline.enabled:
            raise StanzaError("feature-not-implemented", "cancel",
                              "offline message storage is disabled")
        return sender.userhost(), offline

    async def onGet(self, iq):
        account, offline = self._account(iq)
        limit = await offline.pairLimitFor(account)
        return _reply("false" if limit is None else str(limit))

    async def onSet(self, iq):
        account, offline = self._account(iq)
        if not offline.options.user_limits:
            raise StanzaError("not-allowed", "cancel",
                              "users may not set their own offline message limit here")
        value = iq.msgoffline.getAttribute("limit")
        if value is None or not (value == "false" or _isDigits(value)):
            raise StanzaError("bad-request", "modify",
                              "the 'limit' attribute must be a non-negative integer or false")
        if value != "false":
            if len(value.lstrip("0")) > len(str(MAX_LIMIT)) or int(value) > MAX_LIMIT:
                raise StanzaError("bad-request", "modify",
                                  "the 'limit' attribute must be at most %d" % MAX_LIMIT)
            value = str(int(value))
        await self.host.storage.settings.set(account, LIMIT_NODE, LIMIT_KEY, value)
        return _reply(value)


def _isDigits(value):
    # str.isdigit() accepts other scripts' digits and superscripts.
    return bool(value) and all("0" <= c <= "9" for c in value)


def _reply(limit):
    element = domish.Element((NS_MSGOFFLINE, NS_MSGOFFLINE))
    element["limit"] = limit
    return element


def handlersFor(host, options):
    return [MsgOfflineHandler(host)]
