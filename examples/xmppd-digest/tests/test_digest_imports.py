"""The distribution reaches xmppd through ``xmppd.api`` only."""

import ast
import importlib.resources


def xmppdImports(package):
    found = []
    for path in importlib.resources.files(package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            found += [(path.name, name) for name in names
                      if name == "xmppd" or name.startswith("xmppd.")]
    return found


def test_nothing_of_xmppd_but_xmppd_api_is_imported():
    imports = xmppdImports("xmppd_digest")
    assert imports and {name for _, name in imports} == {"xmppd.api"}, imports
