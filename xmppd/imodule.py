"""
The plugin interface: what a module is, to the server that loads it.

A module is found with ``twisted.plugin.getPlugins(IModule, xmppd.plugins)``,
enabled by a ``[modules.NAME]`` table, validated against its ``schema`` at
start-up, and then asked for the Wokkel handlers to hang on each virtual
host. Everything a handler needs from the server it reaches through the
``host`` it is given (``xmppd.host.Host``): its domain, events, sessions,
storage, access rules, disco features and stream features.
"""

from zope.interface import Attribute, Interface


class IModule(Interface):
    name = Attribute("The module's name: its config table is [modules.NAME].")
    enabledByDefault = Attribute("True if the module runs without a config table.")
    schema = Attribute("An xmppd.config.Schema of the module's options, "
                       "'enabled' excepted.")

    def handlersFor(host, options):
        """
        Return the XMPPHandlers to add to ``host`` (an ``xmppd.host.Host``),
        given the module's validated ``options``.
        """
