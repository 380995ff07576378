"""
Access rules: the first item whose ACL matches the user gives the value.
"""

from twisted.words.protocols.jabber.jid import JID

from xmppd.access import AccessRules
from xmppd.config import parseConfig


def rules(**tables):
    return AccessRules(parseConfig(tables))


def test_default_offline_cap_is_5000_for_admins_and_1000_for_everyone_else():
    access = rules(server={"hosts": ["example.com"], "admins": ["boss@example.com"]})
    assert access.evaluate("max_user_offline_messages", "boss@example.com") == 5000
    assert access.evaluate("max_user_offline_messages", "alice@example.com") == 1000
    assert access.evaluate("max_user_offline_messages", "someone@elsewhere.org") == 1000


def test_admin_acl_matches_normalised_and_jid_objects():
    access = rules(server={"hosts": ["example.com"], "admins": ["Boss@Example.com"]})
    assert access.evaluate("max_user_offline_messages", JID("boss@example.com")) == 5000
    assert access.evaluate("max_user_offline_messages", "BOSS@EXAMPLE.COM") == 5000


def test_infinity_means_unlimited():
    access = rules(
        access={"max_user_offline_messages": [{"acl": "all", "value": "infinity"}]}
    )
    assert access.evaluate("max_user_offline_messages", "alice@example.com") is None


def test_missing_rule_means_unlimited():
    access = rules()
    assert "no_such_rule" not in access
    assert access.evaluate("no_such_rule", "alice@example.com") is None


def test_rule_where_no_item_matches_means_unlimited():
    access = rules(
        acl={"staff": ["@staff.example.com"]},
        access={"cap": [{"acl": "staff", "value": 10}]},
    )
    assert access.evaluate("cap", "alice@example.com") is None


def test_first_matching_item_wins_in_order():
    access = rules(
        acl={
            "vip": ["carol@example.com"],
            "local": ["example.com"],
            "partners": ["@partner.example.org"],
        },
        access={
            "cap": [
                {"acl": "vip", "value": 0},
                {"acl": "local", "value": 200},
                {"acl": "partners", "value": 50},
                {"acl": "all", "value": 10},
            ]
        },
    )
    assert access.evaluate("cap", "carol@example.com") == 0
    assert access.evaluate("cap", "alice@example.com") == 200
    assert access.evaluate("cap", "bob@partner.example.org") == 50
    assert access.evaluate("cap", "eve@example.net") == 10
    assert access.evaluate("cap", "dave@sub.example.com") == 10


def test_boolean_rules_allow_or_deny():
    access = rules(
        acl={"local": ["@example.com"]},
        access={
            "register": [
                {"acl": "local", "value": "allow"},
                {"acl": "all", "value": "deny"},
            ]
        },
    )
    assert access.evaluate("register", "new@example.com") == "allow"
    assert access.isAllowed("register", "new@example.com")
    assert access.evaluate("register", "new@example.net") == "deny"
    assert not access.isAllowed("register", "new@example.net")
    assert not access.isAllowed("missing", "new@example.com")


def test_acl_membership():
    access = rules(
        server={"admins": ["boss@example.com"]},
        acl={"staff": ["boss@example.com", "@staff.example.com"]},
    )
    assert access.aclMatches("all", "anyone@anywhere.example")
    assert access.aclMatches("admin", "boss@example.com")
    assert not access.aclMatches("admin", "alice@example.com")
    assert access.aclMatches("staff", "x@staff.example.com")
    assert not access.aclMatches("staff", "x@example.com")
    assert not access.aclMatches("undefined", "boss@example.com")
