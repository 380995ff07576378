"""
The values of the server's own configuration that need more than a kind:
domains and JIDs normalised as routing compares them, host:port pairs, and
the ACLs and access rules of ``[acl]`` and ``[access]``. The schemas that
use them are in ``xmppd.config.server``.
"""

import ipaddress
import re
from typing import NamedTuple, Union

from twisted.words.protocols.jabber import jid as jabberJID

from xmppd.config.schema import ConfigError, formatValue, joinKey


BUILTIN_ACLS = ("all", "admin")
INFINITY = "infinity"
ALLOW = "allow"
DENY = "deny"


# -- checks shared by the schema and the cross-field validation ------------

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normaliseDomain(text):
    """
    The domain as routing compares it (nameprep, lower case); ValueError if
    it is not a host name an XMPP address can carry.
    """
    try:
        parsed = jabberJID.JID(text)
    except Exception:
        # Twisted raises InvalidFormat, and IndexError for "a..b".
        raise ValueError(text) from None
    if parsed.user is not None or parsed.resource is not None:
        raise ValueError(text)
    host = parsed.host
    try:
        ascii = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(text) from None
    if len(ascii) > 253 or not all(_LABEL.match(label) for label in ascii.split(".")):
        raise ValueError(text)
    return host


def normaliseBareJID(text):
    """``user@host`` as routing compares it; ValueError for anything else."""
    try:
        parsed = jabberJID.JID(text)
    except Exception:
        raise ValueError(text) from None
    if not parsed.user or parsed.resource is not None:
        raise ValueError(text)
    return f"{parsed.user}@{normaliseDomain(parsed.host)}"


def normaliseAclPattern(text):
    """
    An ACL pattern in canonical form: ``user@host`` for one account,
    ``@host`` for every account of a domain (written ``@host`` or ``host``).
    """
    if text.startswith("@"):
        return "@" + normaliseDomain(text[1:])
    if "@" in text:
        return normaliseBareJID(text)
    return "@" + normaliseDomain(text)


def parseHostPort(text):
    """
    (host, port) from ``"127.0.0.1:9105"`` or ``"[::1]:9105"``;
    ValueError if it is neither.
    """
    match = re.match(r"^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$", text) or re.match(
        r"^([^:\[\]\s]+):(\d{1,5})$", text
    )
    if not match or int(match.group(2)) > 65535:
        raise ValueError(text)
    return match.group(1), int(match.group(2))


def checkIPAddress(value):
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return 'expected an IP address to listen on ("0.0.0.0" = every IPv4 address, "::" = every address)'
    return None


def checkHosts(value):
    if not value:
        return "expected at least one host name"
    for host in value:
        try:
            normaliseDomain(host)
        except ValueError:
            return f"{formatValue(host)} is not a valid domain name"
    normalised = [normaliseDomain(host) for host in value]
    for host in normalised:
        if normalised.count(host) > 1:
            return f"{formatValue(host)} is listed twice"
    return None


def checkAdmins(value):
    for admin in value:
        try:
            normaliseBareJID(admin)
        except ValueError:
            return f"{formatValue(admin)} is not a bare JID (user@host)"
    return None


def checkHostPort(value):
    try:
        parseHostPort(value)
    except ValueError:
        return 'expected "HOST:PORT", e.g. "127.0.0.1:9105" or "[::1]:9105"'
    return None


def checkNotEmpty(value):
    return None if value.strip() else "expected a non-empty string"


# -- [acl] and [access] -----------------------------------------------------


class AccessItem(NamedTuple):
    """One ``{acl = ..., value = ...}`` of an access rule."""

    acl: str
    value: Union[int, str]  # int >= 0, "infinity", "allow" or "deny"


def parseAcl(name, dottedKey, raw):
    if name in BUILTIN_ACLS:
        raise ConfigError(
            f"{dottedKey} = {formatValue(raw)}: the acl {formatValue(name)} is built in"
            " (all = everyone, admin = server.admins) and cannot be redefined",
            dottedKey,
        )
    expected = 'expected a list of bare JIDs ("user@host") or domains ("@host")'
    if not isinstance(raw, list) or not all(isinstance(p, str) for p in raw):
        raise ConfigError(f"{dottedKey} = {formatValue(raw)}: {expected}", dottedKey)
    patterns = []
    for pattern in raw:
        try:
            patterns.append(normaliseAclPattern(pattern))
        except ValueError:
            raise ConfigError(
                f"{dottedKey} = {formatValue(raw)}: {formatValue(pattern)} is not a"
                ' bare JID ("user@host") nor a domain ("@host")',
                dottedKey,
            ) from None
    return tuple(patterns)


def _parseAccessValue(raw):
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    if raw in (INFINITY, ALLOW, DENY):
        return raw
    raise ValueError(raw)


def parseAccessRule(name, dottedKey, raw):
    expected = "expected a list of {acl = NAME, value = LIMIT} tables"
    if not isinstance(raw, list):
        raise ConfigError(f"{dottedKey} = {formatValue(raw)}: {expected}", dottedKey)
    items = []
    for index, item in enumerate(raw):
        itemKey = f"{dottedKey}[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{itemKey} = {formatValue(item)}: {expected}", itemKey)
        for key in item:
            if key not in ("acl", "value"):
                raise ConfigError(
                    f"unknown key {joinKey(itemKey, key)} (known: acl, value)",
                    joinKey(itemKey, key),
                )
        for key in ("acl", "value"):
            if key not in item:
                raise ConfigError(
                    f"{itemKey} = {formatValue(item)}: missing key {key!r}", itemKey
                )
        if not isinstance(item["acl"], str):
            key = itemKey + ".acl"
            raise ConfigError(
                f"{key} = {formatValue(item['acl'])}: expected the name of an acl", key
            )
        try:
            value = _parseAccessValue(item["value"])
        except ValueError:
            key = itemKey + ".value"
            raise ConfigError(
                f"{key} = {formatValue(item['value'])}: expected an integer of at least 0,"
                ' "infinity", "allow" or "deny"',
                key,
            ) from None
        items.append(AccessItem(item["acl"], value))
    boolean = {item.value in (ALLOW, DENY) for item in items}
    if len(boolean) > 1:
        raise ConfigError(
            f"{dottedKey} = {formatValue(raw)}: a rule gives either limits or"
            ' "allow"/"deny", not both',
            dottedKey,
        )
    return tuple(items)
