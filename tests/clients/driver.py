"""
A client program driven by JSON lines: the tests' side of node/client.mjs
(xmpp.js) and nbxmpp_client.py (nbxmpp), which speak the same little
protocol: events out on stdout, commands in on stdin.
"""

import asyncio
import json

from tests.clients.conftest import start

TIMEOUT = 20


class ScriptedClient:
    def __init__(self, name, process):
        self.name = name
        self.process = process
        self.seen = []

    @classmethod
    async def start(cls, name, argv, env):
        return cls(name, await start(argv, env))

    async def expect(self, event, timeout=TIMEOUT):
        """The next event of kind ``event``; an error event fails the test."""
        while True:
            try:
                line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
            except asyncio.TimeoutError:
                raise AssertionError("%s: no %r event in %ss; seen %r"
                                     % (self.name, event, timeout, self.seen)) from None
            if not line:
                stderr = await self.process.stderr.read()
                raise AssertionError("%s ended before %r: seen %r, stderr %s"
                                     % (self.name, event, self.seen, stderr.decode()[-2000:]))
            got = json.loads(line)
            self.seen.append(got)
            if got["event"] == event:
                return got
            if got["event"] == "error":
                raise AssertionError("%s: %r while waiting for %r" % (self.name, got, event))

    def command(self, **command):
        self.process.stdin.write((json.dumps(command) + "\n").encode())

    async def quit(self):
        if self.process.returncode is None:
            try:
                self.command(quit=True)
                await asyncio.wait_for(self.process.wait(), 10)
            except (asyncio.TimeoutError, ConnectionError):
                self.process.kill()
                await self.process.wait()
