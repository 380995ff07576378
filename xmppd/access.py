"""
Access rules: per-user values chosen by ACL, as MongooseIM and ejabberd do.

A rule (``[access] max_user_offline_messages``) is a list of
``{acl, value}`` items; the first item whose ACL matches the user gives the
value. This lets an operator give admins a bigger offline queue than
everyone else without a per-user setting. The ACLs and rules were
validated and normalised by the config loader, so nothing here can fail on
configuration.
"""

from twisted.words.protocols.jabber import jid as jabberJID

from xmppd.config import ALLOW, INFINITY


def _bareJID(user):
    # Accept a JID object or a string; compare the stringprepped bare form,
    # as the config loader stored the patterns.
    if not isinstance(user, jabberJID.JID):
        user = jabberJID.JID(user)
    return user.userhost(), user.host


class AccessRules:
    """
    The ``[acl]`` and ``[access]`` tables of a ServerConfig, ready to ask.

    Built-in ACLs: ``all`` matches every JID (local or remote), ``admin``
    the bare JIDs in ``server.admins``.
    """

    def __init__(self, config):
        self._admins = frozenset(config.admins)
        self._acls = {name: tuple(patterns) for name, patterns in config.acl.items()}
        self._rules = {name: tuple(items) for name, items in config.access.items()}

    def aclMatches(self, aclName, user):
        """Whether the bare JID ``user`` is in the ACL named ``aclName``."""
        bare, host = _bareJID(user)
        if aclName == "all":
            return True
        if aclName == "admin":
            return bare in self._admins
        for pattern in self._acls.get(aclName, ()):
            if pattern.startswith("@"):
                if pattern[1:] == host:
                    return True
            elif pattern == bare:
                return True
        return False

    def evaluate(self, ruleName, user):
        """
        The value of the first item of ``ruleName`` whose ACL matches ``user``.

        An int for a limit, ``"allow"``/``"deny"`` for a boolean rule, and
        None for "no limit": ``"infinity"``, a missing rule, or a rule no
        item of which matches (SPEC §4: a missing rule means unlimited).
        """
        for item in self._rules.get(ruleName, ()):
            if self.aclMatches(item.acl, user):
                return None if item.value == INFINITY else item.value
        return None

    def isAllowed(self, ruleName, user):
        """True only when a boolean rule explicitly allows ``user``; closed by default."""
        return self.evaluate(ruleName, user) == ALLOW

    def __contains__(self, ruleName):
        return ruleName in self._rules
