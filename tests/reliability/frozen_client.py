"""
A client in a process of its own, for tests that freeze it with SIGSTOP:
it logs in, sends its initial presence, prints ``online`` and then reads
its stream (answering the server's probes) until it is stopped or killed.

    python -m tests.reliability.frozen_client PORT DOMAIN USER PASSWORD RESOURCE
"""

import asyncio
import sys

from tests.rawclient import RawClient


async def main(port, domain, user, password, resource):
    client = await RawClient.connect(int(port))
    await client.login(user, password, resource, domain=domain)
    client.keepReading()
    client.sendRaw("<presence/>")
    print("online", client.jid, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
