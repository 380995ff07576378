"""Connecting a slixmpp client to a test server: STARTTLS, SCRAM, the generated certificate."""

import asyncio
import ssl


async def connectLocally(client, port, timeout=20):
    """Connect ``client`` (with an ``online`` asyncio.Event) to 127.0.0.1 and wait for it."""
    client.enable_direct_tls = False   # port 5222-style: STARTTLS
    client.enable_plaintext = False    # and never an unencrypted stream
    client["feature_mechanisms"].unencrypted_plain = False
    client.ssl_context.check_hostname = False
    client.ssl_context.verify_mode = ssl.CERT_NONE
    client.connect(host="127.0.0.1", port=port)
    await asyncio.wait_for(client.online.wait(), timeout)
    return client
