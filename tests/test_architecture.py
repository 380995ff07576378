"""
The architecture contracts of ``[tool.importlinter]`` in pyproject.toml, run
with ``lint-imports``: features go through xmppd.api, feature packages are
independent, storage imports no XMPP policy, the core imports no feature.
"""

import ast
import os
import pkgutil
import shutil
import subprocess
import sys
import tomllib

import pytest

import xmppd

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINT_IMPORTS = os.path.join(os.path.dirname(sys.executable), "lint-imports")


def contracts():
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        return {c["id"]: c for c in tomllib.load(f)["tool"]["importlinter"]["contracts"]}


def lintImports(root, *contractIds):
    """Run lint-imports on the tree at ``root`` (its xmppd first on the path)."""
    args = [LINT_IMPORTS, "--no-cache", "--no-logo"]
    for contractId in contractIds:
        args += ["--contract", contractId]
    env = dict(os.environ, PYTHONPATH=root)
    return subprocess.run(args, cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("contractId", [
    "features-through-api",
    "features-independent",
    "storage-no-policy",
    "core-no-features",
])
def test_contract_is_kept(contractId):
    result = lintImports(REPO, contractId)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_module_of_xmppd_is_a_feature_or_in_the_core_contract():
    features = set(contracts()["features-through-api"]["source_modules"])
    core = set(contracts()["core-no-features"]["source_modules"])
    assert not features & core
    names = {"xmppd." + m.name for m in pkgutil.iter_modules(xmppd.__path__)}
    assert names - features - core == set(), "classify the new module in pyproject.toml"


def test_storage_imports_nothing_of_twisted_words():
    # The storage contract cannot name an external subpackage; this can.
    storage = os.path.join(REPO, "xmppd", "storage")
    found = []
    for folder, _, files in os.walk(storage):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path, encoding="utf-8") as f:
                    tree = ast.parse(f.read(), path)
                for node in ast.walk(tree):
                    modules = []
                    if isinstance(node, ast.Import):
                        modules = [alias.name for alias in node.names]
                    elif isinstance(node, ast.ImportFrom) and node.module:
                        modules = [node.module]
                    found += [(os.path.relpath(path, REPO), m) for m in modules
                              if m == "twisted.words" or m.startswith("twisted.words.")]
    assert found == []


@pytest.mark.parametrize("contractId, bad, reported", [
    ("features-through-api", ("modules/ping.py", "from xmppd.sessions import SessionManager"),
     "xmppd.modules.ping -> xmppd.sessions"),
    ("features-independent", ("modules/roster/items.py", "from xmppd.modules import presence"),
     "xmppd.modules.roster.items -> xmppd.modules.presence"),
    ("core-no-features", ("sessions.py", "from xmppd.offline import policy"),
     "xmppd.sessions -> xmppd.offline"),
])
def test_a_forbidden_import_breaks_the_build(tmp_path, contractId, bad, reported):
    """The contracts bite: one bad import in a copy of the tree is reported."""
    shutil.copytree(os.path.join(REPO, "xmppd"), tmp_path / "xmppd",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(os.path.join(REPO, "pyproject.toml"), tmp_path)
    path, line = bad
    with open(tmp_path / "xmppd" / path, "a", encoding="utf-8") as f:
        f.write("\n%s  # noqa\n" % line)
    result = lintImports(str(tmp_path), contractId)
    assert result.returncode != 0
    assert reported in result.stdout, result.stdout
