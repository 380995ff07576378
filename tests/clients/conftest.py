"""
Real, unmodified client programs against a real xmppd.

The server is the test process's own (``trusted_xmpp``): STARTTLS and
direct TLS listeners on 127.0.0.1, a certificate for ``localhost`` signed by
a throwaway CA that the clients are told to trust (``SSL_CERT_FILE`` for
OpenSSL and Go, ``NODE_EXTRA_CA_CERTS`` for Node), so that each client
verifies the certificate as it would in real use.

Each program is installed by scripts/test.sh. A missing program skips its
tests, except under CI=true, where it fails them: a CI run that silently
tested no client would prove nothing.
"""

import asyncio
import datetime
import os
import shutil

import pytest
import pytest_twisted
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
ACCOUNTS = ("alice", "bob", "carol")


def requireProgram(name, path=None):
    """The program's path; a missing one skips the test, or fails it under CI."""
    found = path if path and os.path.exists(path) else shutil.which(name)
    if found:
        return found
    message = "%s is not installed (scripts/test.sh installs it)" % name
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def _key():
    return ec.generate_private_key(ec.SECP256R1())


def _pem(thing):
    if hasattr(thing, "private_bytes"):
        return thing.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption())
    return thing.public_bytes(serialization.Encoding.PEM)


def makeCertificateAuthority(directory, hostname="localhost"):
    """A CA and a server certificate for ``hostname`` it signed: (ca, cert, key) paths."""
    now = datetime.datetime.now(datetime.timezone.utc)
    caKey, serverKey = _key(), _key()
    caName = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "xmppd test CA")])
    ca = (x509.CertificateBuilder().subject_name(caName).issuer_name(caName)
          .public_key(caKey.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(caKey.public_key()),
                         critical=False)
          .sign(caKey, hashes.SHA256()))
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
              .issuer_name(caName).public_key(serverKey.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(hours=1))
              .not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]),
                             critical=False)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                             critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                  caKey.public_key()), critical=False)
              .sign(caKey, hashes.SHA256()))
    paths = [os.path.join(directory, name) for name in ("ca.pem", "server.pem", "server-key.pem")]
    for path, data in zip(paths, (_pem(ca), _pem(server), _pem(serverKey))):
        with open(path, "wb") as f:
            f.write(data)
    return paths


@pytest.fixture
def certificate_authority(tmp_path):
    directory = tmp_path / "pki"
    directory.mkdir()
    return makeCertificateAuthority(str(directory))


@pytest_twisted.async_yield_fixture
async def trusted_xmpp(make_database, tmp_path, certificate_authority):
    """A running server on SQLite, certified by ``certificate_authority``, with alice, bob, carol."""
    from tests.harness import startServer

    caPath, certPath, keyPath = certificate_authority
    database = await make_database("sqlite")
    running = await startServer(database, tmp_path, {
        "tls": {"certificate": certPath, "private_key": keyPath}})
    running.caPath = caPath
    for name in ACCOUNTS:
        await running.addUser(name, "secret-" + name)
    yield running
    await running.stop()


class Finished:
    def __init__(self, returncode, stdout, stderr):
        self.returncode = returncode
        self.stdout = stdout.decode("utf-8", "replace")
        self.stderr = stderr.decode("utf-8", "replace")

    def __repr__(self):
        return "exit %s\nstdout: %s\nstderr: %s" % (self.returncode, self.stdout, self.stderr)


def clientEnvironment(xmpp, home):
    """The environment of a client program: its own HOME, trusting the test CA only."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
           "LANG": "C.UTF-8", "SSL_CERT_FILE": xmpp.caPath,
           "NODE_EXTRA_CA_CERTS": xmpp.caPath, "TERM": "xterm-256color"}
    os.makedirs(str(home), exist_ok=True)
    return env


async def start(argv, env, stdin=None):
    return await asyncio.create_subprocess_exec(
        *argv, env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)


async def run(argv, env, stdin=b"", timeout=30):
    """Run a client program to its end while the server keeps serving."""
    process = await start(argv, env)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(stdin), timeout)
    except asyncio.TimeoutError:
        process.kill()
        stdout, stderr = await process.communicate()
        raise AssertionError("%s did not finish in %ss: %r"
                             % (argv[0], timeout, Finished(None, stdout, stderr)))
    return Finished(process.returncode, stdout, stderr)
