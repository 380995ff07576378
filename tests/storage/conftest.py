"""
The storage tests' databases carry the tables of every built-in feature,
as a server with all its modules enabled would.
"""

import pytest
import pytest_twisted


def builtinFeaturePackages():
    from xmppd.tap import availableModules
    return sorted({module.tables for module in availableModules().values()
                   if getattr(module, "tables", None) and module.builtin})


@pytest_twisted.async_yield_fixture
async def database(backend, make_database):
    yield await make_database(backend, schema=builtinFeaturePackages())


@pytest_twisted.async_yield_fixture
async def storage(database):
    """The registry of ``database`` with every built-in module enabled."""
    from xmppd.storage import openStores
    from xmppd.tap import availableModules
    modules = [m for m in availableModules().values() if m.builtin]
    registry = openStores(database, modules, modules)
    await registry.start()
    yield registry


@pytest_twisted.async_yield_fixture
async def accounts(storage):
    """The AccountManager over ``storage``: accounts with passwords, deleted whole."""
    from xmppd.accounts import AccountManager
    yield AccountManager(storage)


# The backends every store with a memory implementation is held to.
CONTRACT_BACKENDS = ["memory", "sqlite", "mysql"]


@pytest.fixture(params=CONTRACT_BACKENDS, ids=CONTRACT_BACKENDS)
def store_backend(request):
    return request.param


@pytest_twisted.async_yield_fixture
async def stores(store_backend, make_database):
    """
    A started registry with every built-in module's stores on
    ``store_backend``: the users, settings, roster and offline stores are
    the memory ones under "memory", the SQL ones otherwise. A contract test
    class takes this fixture and so runs once per backend.
    """
    from xmppd.storage import openStores
    from xmppd.tap import availableModules
    modules = [m for m in availableModules().values() if m.builtin]
    database = await make_database(store_backend)
    registry = openStores(database, modules, modules)
    await registry.start()
    yield registry


@pytest.fixture
def account_manager(stores):
    from xmppd.accounts import AccountManager
    return AccountManager(stores)
