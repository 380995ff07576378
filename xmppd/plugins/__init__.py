"""
Plugin package for xmppd modules.

Built-in modules and third-party distributions alike drop a file here that
instantiates objects providing ``xmppd.imodule.IModule`` and
``twisted.plugin.IPlugin``; ``twisted.plugin.getPlugins`` finds them all.
"""

from twisted.plugin import pluginPackagePaths

__path__.extend(pluginPackagePaths(__name__))
__all__ = []
