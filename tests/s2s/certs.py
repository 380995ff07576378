"""
A throwaway certificate authority for federation tests: the CA file the
servers trust, and a certificate per domain signed by it (or self-signed,
for a peer whose certificate must not prove anything).
"""

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _name(common):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _keyPEM(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class TestCA:
    def __init__(self, directory):
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(_name("xmppd test CA")).issuer_name(_name("xmppd test CA"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False,
                                         False), critical=True)
            .sign(self.key, hashes.SHA256()))
        self.path = directory / "ca.pem"
        self.path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    def issue(self, domain, selfSigned=False):
        """(certificate path, key path) for ``domain``, for serving and as a client."""
        key = ec.generate_private_key(ec.SECP256R1())
        issuer = _name(domain) if selfSigned else self.certificate.subject
        signer = key if selfSigned else self.key
        now = _now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(domain)).issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                  ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .sign(signer, hashes.SHA256()))
        stem = domain + ("-self" if selfSigned else "")
        certPath = self.directory / (stem + ".pem")
        keyPath = self.directory / (stem + ".key")
        certPath.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        keyPath.write_bytes(_keyPEM(key))
        keyPath.chmod(0o600)
        return certPath, keyPath
