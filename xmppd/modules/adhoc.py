"""
Ad-hoc commands (XEP-0050) with the server's administration commands of
XEP-0133 that an operator asks first: how many users are online and how
many are registered.

Only ``server.admins`` see and run them; everyone else gets an empty
command list and ``forbidden``, as with Prosody's admin_adhoc.
"""

import uuid

from twisted.internet import defer
from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish
from wokkel import disco, data_form
from wokkel.iwokkel import IDisco
from wokkel.subprotocols import IQHandlerMixin, XMPPHandler
from zope.interface import implementer

NS_COMMANDS = "http://jabber.org/protocol/commands"
NS_ADMIN = "http://jabber.org/protocol/admin"
EXECUTE = "/iq[@type='set']/command[@xmlns='%s']" % NS_COMMANDS
ONLINE = NS_ADMIN + "#get-online-users-num"
REGISTERED = NS_ADMIN + "#get-registered-users-num"


@implementer(IDisco)
class AdHocCommands(XMPPHandler, IQHandlerMixin):
    iqHandlers = {EXECUTE: "onExecute"}

    def __init__(self, host):
        XMPPHandler.__init__(self)
        self.host = host
        # node: (name, the XEP-0133 result field, how to compute it)
        self.commands = {
            ONLINE: ("Get Number of Online Users", "onlineusersnum", self.onlineUsers),
            REGISTERED: ("Get Number of Registered Users", "registeredusersnum",
                         self.registeredUsers)}

    def connectionInitialized(self):
        self.xmlstream.addObserver(EXECUTE, self.handleRequest)

    def isAdmin(self, jid):
        return jid is not None and jid.userhost() in self.host.config.admins

    # Discovery (§2) --------------------------------------------------------------------

    def getDiscoInfo(self, requestor, target, nodeIdentifier=""):
        if target.user or target.host != self.host.domain:
            return defer.succeed([])
        if not nodeIdentifier:
            return defer.succeed([disco.DiscoFeature(NS_COMMANDS)])
        if nodeIdentifier in self.commands and self.isAdmin(requestor):
            return defer.succeed([
                disco.DiscoIdentity("automation", "command-node", self.commands[nodeIdentifier][0]),
                disco.DiscoFeature(NS_COMMANDS), disco.DiscoFeature(data_form.NS_X_DATA)])
        return defer.succeed([])

    def getDiscoItems(self, requestor, target, nodeIdentifier=""):
        if target.user or nodeIdentifier != NS_COMMANDS or not self.isAdmin(requestor):
            return defer.succeed([])
        return defer.succeed([disco.DiscoItem(JID(self.host.domain), node, name)
                              for node, (name, _, _) in sorted(self.commands.items())])

    # Execution (§3) ----------------------------------------------------------------------

    async def onExecute(self, iq):
        if iq.getAttribute("to", self.host.domain) != self.host.domain:
            return None
        node = iq.command.getAttribute("node")
        if node not in self.commands:
            raise StanzaError("item-not-found", "cancel", "no such command")
        if not self.isAdmin(JID(iq["from"])):
            raise StanzaError("forbidden", "auth", "only the server's admins run this command")
        if iq.command.getAttribute("action", "execute") == "cancel":
            return _command(node, "canceled")
        label, var, compute = self.commands[node]
        value = await compute()
        reply = _command(node, "completed")
        form = data_form.Form("result", fields=[
            data_form.Field("hidden", "FORM_TYPE", value=NS_ADMIN),
            data_form.Field(var=var, label=label, value=str(value))])
        reply.addChild(form.toElement())
        return reply

    def onlineUsers(self):
        domain = "@" + self.host.domain
        return defer.succeed(sum(1 for account in self.host.sessions.accounts
                                 if account.endswith(domain)))

    def registeredUsers(self):
        return self.host.storage.users.count(self.host.domain)


def _command(node, status):
    element = domish.Element((NS_COMMANDS, "command"))
    element["node"] = node
    element["sessionid"] = uuid.uuid4().hex
    element["status"] = status
    return element


def handlersFor(host, options):
    return [AdHocCommands(host)]
