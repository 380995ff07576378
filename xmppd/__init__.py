"""
xmppd: an XMPP server on Twisted Words and Wokkel.

The Wokkel import shim runs first so that every module below can import
Wokkel's handlers directly.
"""

from xmppd import compat as _compat  # noqa: F401  (side effect: Wokkel shim)
from xmppd import jidprep as _jidprep  # noqa: F401  (side effect: memoised JID parsing)

__version__ = "0.1.0"
