"""
Declared dependencies and services (issue 12): what a module says it needs
(``depends=``) and offers (``provides=``) is checked at start-up, in one
line, and services are found by interface.
"""

import os
import subprocess
import sys

import pytest
from zope.interface import Interface, implementer

from xmppd.api import IOfflineService, MissingService, Module
from xmppd.config import ConfigError, parseConfig
from xmppd.services import ServiceRegistry
from xmppd.storage import Database
from xmppd.tap import availableModules, buildServer, loadOrder, moduleSchemas, storesFor

BIN = os.path.dirname(sys.executable)
PRESENCE_OFF = "[modules.presence]\nenabled = false\n"
# PEP depends on presence; an operator who asked for it in a table gets an error.
PEP_ASKED_FOR = PRESENCE_OFF + "[modules.pep]\nmax_nodes = 10\n"
EXPECTED = ("xmppd: modules.pep: depends on module presence, which is not enabled"
            " (enable [modules.presence] or disable modules.pep)\n")


def configFile(tmp_path, text):
    path = tmp_path / "xmppd.toml"
    path.write_text('[server]\ndata_dir = "%s"\n%s' % (tmp_path / "data", text),
                    encoding="utf-8")
    return str(path)


def test_xmppd_check_refuses_an_enabled_module_whose_dependency_is_disabled(tmp_path):
    result = subprocess.run([os.path.join(BIN, "xmppd"), "check", "--config",
                             configFile(tmp_path, PEP_ASKED_FOR)],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (1, EXPECTED)


def test_twistd_refuses_an_enabled_module_whose_dependency_is_disabled(tmp_path):
    result = subprocess.run([os.path.join(BIN, "twistd"), "-n", "--pidfile=", "xmppd",
                             "--config", configFile(tmp_path, PEP_ASKED_FOR)],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (1, EXPECTED)


def test_a_default_module_steps_aside_when_its_dependency_is_disabled(tmp_path):
    modules = availableModules()
    config = parseConfig({"modules": {"presence": {"enabled": False}}},
                         moduleSchemas(modules))
    assert config.modules["pep"].enabled is False
    assert "pep" not in loadOrder(config, modules)
    result = subprocess.run([os.path.join(BIN, "xmppd"), "check", "--config",
                             configFile(tmp_path, PRESENCE_OFF)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "pep" not in result.stdout.split("modules ")[1].split(", ")


def test_modules_load_after_what_they_depend_on():
    modules = availableModules()
    order = loadOrder(parseConfig({}, moduleSchemas(modules)), modules)
    assert order.index("presence") < order.index("pep")


class IGreeter(Interface):
    """A service nobody provides in these tests."""


def test_service_of_an_interface_nobody_provides_raises_MissingService():
    services = ServiceRegistry()
    with pytest.raises(MissingService) as caught:
        services.service(IGreeter)
    assert str(caught.value) == "no enabled module provides IGreeter"
    assert services.optionalService(IGreeter) is None


def test_a_service_is_found_by_its_interface_and_provided_once():
    @implementer(IGreeter)
    class Greeter:
        pass

    services, greeter = ServiceRegistry(), Greeter()
    services.provide(IGreeter, greeter)
    assert services.service(IGreeter) is greeter
    with pytest.raises(ValueError):
        services.provide(IGreeter, Greeter())
    with pytest.raises(TypeError):
        services.provide(IOfflineService, greeter)


def serverWith(tmp_path, extra, enabled):
    modules = dict(availableModules(), **{m.name: m for m in extra})
    data = {"server": {"data_dir": str(tmp_path / "data")},
            "modules": {name: {"enabled": on} for name, on in enabled.items()}}
    config = parseConfig(data, moduleSchemas(modules))
    database = Database("sqlite", path=str(tmp_path / "xmppd.sqlite"))
    return buildServer(config, modules, storesFor(database, config, modules))


def test_a_host_without_offline_storage_has_no_offline_service(tmp_path):
    server = serverWith(tmp_path, [], {"offline": False})
    host = server.hosts["localhost"]
    with pytest.raises(MissingService):
        host.service(IOfflineService)
    assert host.optionalService(IOfflineService) is None
    stubbed = serverWith(tmp_path, [], {"offline": False, "offline_stub": True})
    assert stubbed.hosts["localhost"].service(IOfflineService).enabled is False
    stored = serverWith(tmp_path, [], {})
    assert stored.hosts["localhost"].service(IOfflineService).enabled is True


def test_a_module_that_declares_a_service_it_does_not_provide_stops_startup(tmp_path):
    liar = Module("liar", lambda host, options: [], provides=[IGreeter])
    with pytest.raises(ConfigError) as caught:
        serverWith(tmp_path, [liar], {"liar": True})
    assert str(caught.value) == "modules.liar: declares that it provides IGreeter, but did not"
