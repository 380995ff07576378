"""
The configuration: one TOML file, validated at start-up against schemas.

``schema`` is the small declarative library that the server and every
module use to describe their options; ``server`` holds the server's own
tables and ``loadConfig``, ``values`` the values they parse. Import from here.
"""

from xmppd.config.schema import (
    KINDS,
    ConfigError,
    Entries,
    Option,
    Schema,
    Section,
    Table,
    formatDuration,
    formatSize,
    formatValue,
    parseDuration,
    parseSize,
)
from xmppd.config.server import ROOT, ServerConfig, loadConfig, parseConfig
from xmppd.config.values import (
    ALLOW,
    BUILTIN_ACLS,
    DENY,
    INFINITY,
    AccessItem,
    normaliseAclPattern,
    normaliseBareJID,
    normaliseDomain,
    parseHostPort,
)

__all__ = [
    "ALLOW",
    "BUILTIN_ACLS",
    "DENY",
    "INFINITY",
    "KINDS",
    "ROOT",
    "AccessItem",
    "ConfigError",
    "Entries",
    "Option",
    "Schema",
    "Section",
    "ServerConfig",
    "Table",
    "formatDuration",
    "formatSize",
    "formatValue",
    "loadConfig",
    "normaliseAclPattern",
    "normaliseBareJID",
    "normaliseDomain",
    "parseConfig",
    "parseDuration",
    "parseHostPort",
    "parseSize",
]
