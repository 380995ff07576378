"""Registers the motd module with xmppd: installing this file is all it takes."""

from xmppd_motd import motdModule  # noqa: F401
