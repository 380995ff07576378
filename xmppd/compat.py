"""
Import shim that lets Wokkel 18.0.0 load on current Twisted.

Wokkel's last release still imports two names that Twisted has since
removed: ``twisted.python.compat._PY3`` (``data_form``, and through it
``disco`` and ``ping``) and the module ``twisted.python.constants`` (``muc``),
which lives on as the ``constantly`` package. Both are restored here, once,
before anything imports Wokkel; no Wokkel code is copied.
"""

import sys

import constantly
import twisted.python.compat

if not hasattr(twisted.python.compat, "_PY3"):
    twisted.python.compat._PY3 = True

sys.modules.setdefault("twisted.python.constants", constantly)
