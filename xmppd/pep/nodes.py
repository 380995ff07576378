"""
A PEP node's configuration: its defaults, the XEP-0060 fields a client may
set (``pubsub#node_config`` forms and §7.1.5 publish-options), and the
precondition check that lets OMEMO and XEP-0402 bookmarks say "publish
this only to a node configured so".

A config is a plain dict, the JSON that storage keeps:
``access_model`` (presence | open | whitelist), ``persist_items``,
``max_items`` (an integer or "max": the server's ``max_items_per_node``
at the time of use, so that a node created with "max" still matches a
later "max" after the operator changes the bound),
``send_last_published_item`` and ``notify_retract``.
"""

from twisted.words.protocols.jabber.error import StanzaError
from wokkel import data_form
from wokkel.pubsub import PubSubError

NS_PUBLISH_OPTIONS = "http://jabber.org/protocol/pubsub#publish-options"
ACCESS_MODELS = ("presence", "open", "whitelist")
SEND_LAST = ("never", "on_sub", "on_sub_and_presence")
# Stored in columns of these sizes (storage/schema/*/0040_pep.sql).
MAX_NODE_LENGTH = 120
MAX_ITEM_ID_LENGTH = 190

FIELDS = {
    "pubsub#access_model": {
        "type": "list-single", "label": "Who may subscribe and retrieve items",
        "options": {"presence": "Contacts with a presence subscription",
                    "open": "Anyone", "whitelist": "Only the owner and members"}},
    "pubsub#persist_items": {"type": "boolean", "label": "Persist items"},
    "pubsub#max_items": {"type": "text-single", "label": "Most items kept (or max)"},
    "pubsub#send_last_published_item": {
        "type": "list-single", "label": "When to send the last published item",
        "options": {"never": "Never", "on_sub": "On subscription",
                    "on_sub_and_presence": "On subscription and presence"}},
    "pubsub#notify_retract": {"type": "boolean", "label": "Notify of retractions"},
}


def defaultConfig(accessModel="presence"):
    """XEP-0163 §4.2's defaults: the contacts see it, one item is kept."""
    return {"access_model": accessModel, "persist_items": True, "max_items": 1,
            "send_last_published_item": "on_sub_and_presence", "notify_retract": True}


def itemsKept(config, bound):
    """How many items the node keeps: a non-persistent node its last one only."""
    if not config.get("persist_items", True):
        return 1
    maxItems = config.get("max_items", 1)
    return bound if maxItems == "max" else min(int(maxItems), bound)


def _bool(var, value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true"):
        return True
    if text in ("0", "false"):
        return False
    raise StanzaError("bad-request", text="%s must be a boolean" % var)


def parseFields(values, bound):
    """
    The config fields of a submitted form's values (``{var: value}``), as
    config keys; unknown fields are left out, bad values refused.
    """
    parsed = {}
    for var, value in values.items():
        if var not in FIELDS:
            continue
        if isinstance(value, list):
            value = value[0] if value else ""
        key = var.split("#", 1)[1]
        if key == "access_model":
            if value not in ACCESS_MODELS:
                raise PubSubError("not-acceptable", "unsupported-access-model",
                                  text="access models: " + ", ".join(ACCESS_MODELS))
        elif key in ("persist_items", "notify_retract"):
            value = _bool(var, value)
        elif key == "max_items":
            value = _maxItems(str(value).strip(), bound)
        elif key == "send_last_published_item":
            if value not in SEND_LAST:
                raise StanzaError("not-acceptable",
                                  text="%s: one of %s" % (var, ", ".join(SEND_LAST)))
        parsed[key] = value
    return parsed


def _maxItems(text, bound):
    if text == "max":
        return "max"
    try:
        number = int(text)
    except ValueError:
        raise StanzaError("bad-request", text="pubsub#max_items: a number or max")
    if not 1 <= number <= bound:
        raise PubSubError("not-acceptable", "max-items-exceeded",
                          text="pubsub#max_items: 1 to %d, or max" % bound)
    return number


def publishOptions(publishElement, bound):
    """The preconditions of a publish request (XEP-0060 §7.1.5), or None."""
    pubsub = publishElement.parent
    for child in pubsub.elements():
        if child.name == "publish-options":
            form = data_form.findForm(child, NS_PUBLISH_OPTIONS)
            if form is None:
                return None
            return parseFields(form.getValues(), bound)
    return None


def checkPreconditions(config, required):
    """§7.1.5: every publish-option must equal the existing node's value."""
    for key, value in sorted(required.items()):
        if config.get(key) != value:
            raise PubSubError(
                "conflict", "precondition-not-met",
                text="pubsub#%s is %s, not %s" % (key, _text(config.get(key)), _text(value)))


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def formValues(config):
    return {"pubsub#" + key: (_text(value) if key == "max_items" else value)
            for key, value in config.items() if "pubsub#" + key in FIELDS}


def checkNodeName(node):
    if not node or len(node) > MAX_NODE_LENGTH:
        raise StanzaError("not-acceptable",
                          text="node names are 1 to %d characters" % MAX_NODE_LENGTH)


def checkItemId(itemId):
    if not itemId or len(itemId) > MAX_ITEM_ID_LENGTH:
        raise PubSubError("not-acceptable", "item-forbidden",
                          text="item ids are 1 to %d characters" % MAX_ITEM_ID_LENGTH)

