"""
The names of everything the cluster keeps in Redis, in one place (the
operator's guide, docs/cluster.md, lists them with their meaning).
"""

PREFIX = "xmppd:"

# Set of node names; a member without a live lease key is dead.
NODES = PREFIX + "nodes"
# Marker of one Redis data set: a new value means Redis lost its data.
EPOCH = PREFIX + "epoch"
# Channel of registry changes (payload: the bare JID that changed).
REGISTRY_CHANNEL = PREFIX + "registry"
# Channel of released account locks someone waited for (payload: bare JID).
UNLOCK_CHANNEL = PREFIX + "unlock"
# Stream consumer group of every inbox.
GROUP = "xmppd"


def lease(node):
    """The node's lease: a JSON value with a PX expiry, renewed by the node."""
    return PREFIX + "node:" + node


def nodeSessions(node):
    """Set of the full JIDs bound on the node."""
    return PREFIX + "node-sessions:" + node


def inbox(node):
    """Stream of the stanzas other nodes route to the node's sessions."""
    return PREFIX + "inbox:" + node


def cleanup(node):
    """Lock a survivor holds while it cleans up after the dead node."""
    return PREFIX + "cleanup:" + node


def fenced(node):
    """Set once a dead node was cleaned up: the node, should it wake, ends its sessions."""
    return PREFIX + "fenced:" + node


def sessions(bare):
    """Hash of the account's bound resources: full JID → JSON state."""
    return PREFIX + "sessions:" + bare


SESSIONS_PATTERN = PREFIX + "sessions:*"


def lock(bare):
    """The account's lock: whoever holds it decides where its messages go."""
    return PREFIX + "lock:" + bare


def wanted(bare):
    """Set by a node that waits for the account's lock: the holder then announces its release."""
    return PREFIX + "wanted:" + bare
