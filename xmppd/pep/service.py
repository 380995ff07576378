"""
The PEP service: every account's bare JID is a pubsub service (XEP-0163),
built on Wokkel's ``PubSubService`` and its resource model.

``PEPService`` takes the pubsub IQs addressed to an account's bare JID (an
IQ to the domain or to a full JID is someone else's), answers disco for
the bare JID, and sends what a request asks to be sent after its reply.
``PEPResource`` answers each verb: only the owner publishes, retracts,
purges, deletes and configures; anyone the node's access model admits
retrieves and subscribes (``audience``), except a JID the owner blocked. The first publish to a node
creates it (``#auto-create``) with the defaults and any publish-options;
on an existing node the publish-options are preconditions (§7.1.5).
"""

import uuid

from twisted.internet import defer
from twisted.python import log
from twisted.words.protocols.jabber import error
from twisted.words.protocols.jabber.jid import JID
from twisted.words.protocols.jabber.xmlstream import toResponse
from twisted.words.xish import domish
from wokkel import disco
from wokkel.pubsub import (
    NS_PUBSUB, NS_PUBSUB_EVENT, BadRequest, Item, PubSubError, PubSubRequest, PubSubResource,
    PubSubService, Subscription, Unsupported)

from xmppd.api import NodeExists, NoSuchNode, TooManyNodes

from xmppd.pep import nodes

FEATURES = [
    "access-open", "access-presence", "access-whitelist", "auto-create", "config-node",
    "create-nodes", "delete-items", "delete-nodes", "filtered-notifications", "item-ids",
    "last-published", "modify-affiliations", "persistent-items", "presence-notifications",
    "publish", "publish-options", "purge-nodes", "retract-items", "retrieve-default",
    "retrieve-items", "subscribe",
]


class PEPResource(PubSubResource):
    features = FEATURES
    discoIdentity = disco.DiscoIdentity("pubsub", "pep")

    def __init__(self, service, options):
        self.service = service
        self.host = service.host
        self.options = options
        self.store = service.store
        self.audience = service.audience

    def getConfigurationOptions(self):
        return nodes.FIELDS

    # Who is asking ------------------------------------------------------------------

    def ownerOnly(self, request):
        owner = request.recipient.userhost()
        if request.sender.userhost() != owner:
            raise error.StanzaError("forbidden", text="only %s may do this" % owner)
        return owner

    @defer.inlineCallbacks
    def existingNode(self, request, owner):
        node = request.nodeIdentifier
        if not node:
            raise BadRequest("nodeid-required")
        if request.sender.userhost() != owner:
            exists = yield self.host.isLocalUser(request.recipient)
            # XEP-0191 §3.5: to a JID it blocked, the account is as if it did not exist.
            if not exists or self.audience.blocked(owner, request.sender.full()):
                raise error.StanzaError("service-unavailable")
        config = yield self.store.getNode(owner, node)
        if config is None:
            raise error.StanzaError("item-not-found")
        return config

    @defer.inlineCallbacks
    def readableNode(self, request):
        owner = request.recipient.userhost()
        config = yield self.existingNode(request, owner)
        allowed = yield self.audience.mayAccess(
            owner, request.sender.userhost(), request.nodeIdentifier, config)
        if not allowed:
            if config.get("access_model") == "whitelist":
                # A private node (bookmarks) is not even shown to exist.
                raise error.StanzaError("item-not-found")
            raise PubSubError("forbidden", "presence-subscription-required",
                              text="only contacts subscribed to its presence see this node")
        return config

    # Publishing ---------------------------------------------------------------------

    @defer.inlineCallbacks
    def publish(self, request):
        owner = self.ownerOnly(request)
        node = request.nodeIdentifier
        nodes.checkNodeName(node)
        if len(request.items) != 1:
            raise BadRequest("item-required" if not request.items else None,
                             text="publish exactly one item")
        item = request.items[0]
        payloads = list(item.elements())
        if len(payloads) != 1:
            raise BadRequest("invalid-payload", text="an item carries exactly one payload")
        itemId = item.getAttribute("id") or uuid.uuid4().hex
        nodes.checkItemId(itemId)
        payload = payloads[0].toXml()
        if len(payload.encode("utf-8")) > self.options.max_item_size:
            raise PubSubError("not-acceptable", "payload-too-big",
                              text="items are at most %d bytes" % self.options.max_item_size)
        bound = self.options.max_items_per_node
        required = nodes.publishOptions(request.element.pubsub.publish, bound)
        default = nodes.defaultConfig(self.options.default_access_model)

        def decide(existing):
            if existing is None:
                config = dict(default, **(required or {}))
            else:
                if required:
                    nodes.checkPreconditions(existing, required)
                config = existing
            return config, nodes.itemsKept(config, bound)

        try:
            config, _, _ = yield self.store.publish(
                owner, node, itemId, payload, request.sender.userhost(), decide,
                self.options.max_nodes)
        except TooManyNodes:
            raise error.StanzaError("not-allowed", text="at most %d nodes per account"
                                    % self.options.max_nodes)
        request.after = lambda: self.service.notifyItems(
            owner, node, config, [Item(itemId, payload)])
        response = domish.Element((NS_PUBSUB, "pubsub"))
        publish = response.addElement("publish")
        publish["node"] = node
        publish.addElement("item")["id"] = itemId
        return response

    @defer.inlineCallbacks
    def retract(self, request):
        owner = self.ownerOnly(request)
        config = yield self.existingNode(request, owner)
        if not request.itemIdentifiers:
            raise BadRequest("item-required")
        retracted = yield self.store.retract(owner, request.nodeIdentifier,
                                             request.itemIdentifiers)
        if not retracted:
            raise error.StanzaError("item-not-found")
        notify = request.element.pubsub.retract.getAttribute("notify", "")
        if notify in ("1", "true"):
            request.after = lambda: self.service.notifyRetract(
                owner, request.nodeIdentifier, config, retracted)

    @defer.inlineCallbacks
    def items(self, request):
        yield self.readableNode(request)
        if request.maxItems is not None and request.maxItems < 1:
            raise BadRequest(text="max_items must be a positive integer")
        rows = yield self.store.items(request.recipient.userhost(), request.nodeIdentifier,
                                      request.maxItems, request.itemIdentifiers or None)
        return [Item(itemId, payload) for itemId, payload in rows]

    # The owner's node management ---------------------------------------------------------

    @defer.inlineCallbacks
    def create(self, request):
        owner = self.ownerOnly(request)
        node = request.nodeIdentifier
        if not node:
            raise PubSubError("not-acceptable", "nodeid-required",
                              text="PEP nodes are named by their namespace")
        nodes.checkNodeName(node)
        config = nodes.defaultConfig(self.options.default_access_model)
        if request.options:
            config.update(nodes.parseFields(request.options.getValues(),
                                            self.options.max_items_per_node))
        try:
            yield self.store.createNode(owner, node, config, self.options.max_nodes)
        except NodeExists:
            raise error.StanzaError("conflict", text="the node exists")
        except TooManyNodes:
            raise error.StanzaError("not-allowed", text="at most %d nodes per account"
                                    % self.options.max_nodes)
        return node

    def default(self, request):
        return nodes.formValues(nodes.defaultConfig(self.options.default_access_model))

    @defer.inlineCallbacks
    def configureGet(self, request):
        owner = self.ownerOnly(request)
        config = yield self.existingNode(request, owner)
        return nodes.formValues(config)

    @defer.inlineCallbacks
    def configureSet(self, request):
        owner = self.ownerOnly(request)
        config = yield self.existingNode(request, owner)
        bound = self.options.max_items_per_node
        config = dict(config, **nodes.parseFields(request.options.getValues(), bound))
        try:
            yield self.store.configureNode(owner, request.nodeIdentifier, config,
                                           nodes.itemsKept(config, bound))
        except NoSuchNode:
            raise error.StanzaError("item-not-found")

    @defer.inlineCallbacks
    def purge(self, request):
        owner = self.ownerOnly(request)
        config = yield self.existingNode(request, owner)
        yield self.store.purge(owner, request.nodeIdentifier)
        request.after = lambda: self.service.notifyNode(
            owner, request.nodeIdentifier, config, "purge")

    @defer.inlineCallbacks
    def delete(self, request):
        owner = self.ownerOnly(request)
        config = yield self.existingNode(request, owner)
        targets = yield self.audience.targets(owner, request.nodeIdentifier, config)
        try:
            yield self.store.deleteNode(owner, request.nodeIdentifier)
        except NoSuchNode:
            raise error.StanzaError("item-not-found")
        request.after = lambda: self.service.sendEvent(
            owner, request.nodeIdentifier, "delete", targets)

    @defer.inlineCallbacks
    def affiliationsGet(self, request):
        owner = self.ownerOnly(request)
        yield self.existingNode(request, owner)
        found = yield self.store.affiliations(owner, request.nodeIdentifier)
        result = {JID(owner): "owner"}
        result.update((JID(jid), affiliation) for jid, affiliation in found.items())
        return result

    @defer.inlineCallbacks
    def affiliationsSet(self, request):
        owner = self.ownerOnly(request)
        yield self.existingNode(request, owner)
        changes = {}
        for entity, affiliation in request.affiliations.items():
            if affiliation not in ("member", "none") or entity.userhost() == owner:
                raise error.StanzaError(
                    "not-acceptable", text="PEP affiliations: member or none, not the owner")
            changes[entity.userhost()] = affiliation
        yield self.store.setAffiliations(owner, request.nodeIdentifier, changes)

    # Subscriptions --------------------------------------------------------------------------

    @defer.inlineCallbacks
    def subscribe(self, request):
        subscriber = self.checkSubscriber(request)
        config = yield self.readableNode(request)
        owner = request.recipient.userhost()
        yield self.store.subscribe(owner, request.nodeIdentifier, subscriber.full())
        if config.get("send_last_published_item", "on_sub_and_presence") != "never":
            request.after = lambda: self.service.sendLastItem(
                owner, request.nodeIdentifier, subscriber.full())
        return Subscription(request.nodeIdentifier, subscriber, "subscribed")

    @defer.inlineCallbacks
    def unsubscribe(self, request):
        subscriber = self.checkSubscriber(request)
        owner = request.recipient.userhost()
        yield self.existingNode(request, owner)
        removed = yield self.store.unsubscribe(owner, request.nodeIdentifier, subscriber.full())
        if not removed:
            raise PubSubError("unexpected-request", "not-subscribed")

    def checkSubscriber(self, request):
        if request.subscriber.userhost() != request.sender.userhost():
            raise BadRequest("invalid-jid", text="subscribe your own JID")
        return request.subscriber


class PEPService(PubSubService):
    """Wokkel's pubsub service, for the bare JIDs of the host's accounts."""

    def __init__(self, host, options, store, audience):
        self.host = host
        self.store = store
        self.audience = audience
        PubSubService.__init__(self, None)
        self.pep = self.resource = PEPResource(self, options)
        # full JID -> {(owner, node): (item id, payload)} last sent to it.
        self._lastSent = {}

    def forget(self, jid):
        self._lastSent.pop(jid, None)

    def handleRequest(self, iq):
        """
        IQHandlerMixin's dispatch, for bare account JIDs only, and then
        whatever the request left in ``request.after`` (notifications,
        the last item for a new subscriber) once the reply is sent.
        """
        if getattr(iq, "handled", False):
            return
        to = JID(iq["to"]) if iq.getAttribute("to") else None
        if to is None or not to.user or to.resource:
            return
        iq.handled = True
        parsed = []

        def dispatch():
            request = PubSubRequest.fromElement(iq)
            parsed.append(request)
            return self.dispatch(request)

        d = defer.maybeDeferred(dispatch)
        d.addCallback(self._result, iq)
        d.addErrback(self._failed, iq)
        d.addCallback(self.send)
        d.addCallback(lambda _: self._after(parsed[0] if parsed else None))
        return d

    def dispatch(self, request):
        """Wokkel's _onPubSubRequest on a parsed request: pre-process, verb, response."""
        resource = self.pep
        preProcess = getattr(self, "_preProcess_%s" % request.verb, None)
        if preProcess is not None:
            request = preProcess(resource, request)
            if request is None:
                return None
        handler = getattr(resource, request.verb, None)
        if handler is None:
            raise Unsupported("", "Request verb: %s" % request.verb)
        d = defer.maybeDeferred(handler, request)
        render = getattr(self, "_toResponse_%s" % request.verb, None)
        if render is not None:
            d.addCallback(render, resource, request)
        return d

    @staticmethod
    def _result(result, iq):
        response = toResponse(iq, "result")
        if result is not None:
            if isinstance(result, domish.Element):
                response.addChild(result)
            else:
                for element in result:
                    response.addChild(element)
        return response

    @staticmethod
    def _failed(failure, iq):
        if failure.check(NotImplementedError):
            return error.StanzaError("feature-not-implemented").toResponse(iq)
        if failure.check(error.StanzaError):
            return failure.value.toResponse(iq)
        log.err(failure, "pep: request failed")
        return error.StanzaError("internal-server-error").toResponse(iq)

    def _after(self, request):
        after = getattr(request, "after", None)
        if after is not None:
            d = defer.maybeDeferred(after)
            d.addErrback(log.err, "pep: sending notifications failed")

    # Notifications ---------------------------------------------------------------------------

    @defer.inlineCallbacks
    def notifyItems(self, owner, node, config, items):
        targets = yield self.audience.targets(owner, node, config)
        for target in targets:
            self.sendItems(owner, node, target, items)

    @defer.inlineCallbacks
    def notifyRetract(self, owner, node, config, itemIds):
        targets = yield self.audience.targets(owner, node, config)
        for target in targets:
            message = self.eventMessage(owner, target)
            items = message.event.addElement("items")
            items["node"] = node
            for itemId in itemIds:
                items.addElement("retract")["id"] = itemId
            self.send(message)

    @defer.inlineCallbacks
    def notifyNode(self, owner, node, config, kind):
        targets = yield self.audience.targets(owner, node, config)
        self.sendEvent(owner, node, kind, targets)

    def sendEvent(self, owner, node, kind, targets):
        for target in targets:
            message = self.eventMessage(owner, target)
            message.event.addElement(kind)["node"] = node
            self.send(message)

    @defer.inlineCallbacks
    def sendLastItem(self, owner, node, target):
        last = yield self.store.lastItem(owner, node)
        if last is not None:
            self.sendItems(owner, node, target, [Item(*last)])

    def sendItems(self, owner, node, target, items):
        if len(items) == 1:
            # A resource that comes online while an item is published could
            # be sent it twice: as the last item and as the notification.
            item = items[0]
            sent = (item["id"], tuple(str(c) if isinstance(c, str) else c.toXml()
                                      for c in item.children))
            seen = self._lastSent.setdefault(target, {})
            if seen.get((owner, node)) == sent:
                return
            seen[(owner, node)] = sent
        message = self.eventMessage(owner, target)
        element = message.event.addElement("items")
        element["node"] = node
        for item in items:
            copy = Item(item["id"])
            copy.uri = copy.defaultUri = NS_PUBSUB_EVENT
            for child in item.children:
                copy.addChild(child)
            element.addChild(copy)
        self.send(message)

    def eventMessage(self, owner, target):
        message = domish.Element((None, "message"))
        message["from"] = owner
        message["to"] = target
        message["type"] = "headline"
        message["id"] = uuid.uuid4().hex
        message.addElement((NS_PUBSUB_EVENT, "event"))
        return message

    # Disco on the bare JID ----------------------------------------------------------------------

    def getDiscoInfo(self, requestor, target, nodeIdentifier=""):
        if not target.user or target.resource:
            return defer.succeed([])
        if not nodeIdentifier:
            info = [self.pep.discoIdentity]
            info += [disco.DiscoFeature("%s#%s" % (NS_PUBSUB, f)) for f in FEATURES]
            return defer.succeed(info)
        d = self.visibleNodes(requestor, target, nodeIdentifier)
        d.addCallback(lambda found: [disco.DiscoIdentity("pubsub", "leaf")] if found else [])
        return d

    def getDiscoItems(self, requestor, target, nodeIdentifier=""):
        if not target.user or target.resource or nodeIdentifier:
            return defer.succeed([])
        d = self.visibleNodes(requestor, target)
        d.addCallback(lambda found: [disco.DiscoItem(target.userhostJID(), node)
                                     for node in found])
        return d

    @defer.inlineCallbacks
    def visibleNodes(self, requestor, target, only=None):
        owner = target.userhost()
        found = []
        subscribers = None
        for node, config in (yield self.store.nodes(owner)):
            if only is not None and node != only:
                continue
            if requestor.userhost() != owner and subscribers is None:
                subscribers = yield self.audience.subscribersOf(owner)
            allowed = yield self.audience.mayAccess(owner, requestor.userhost(), node,
                                                    config, subscribers)
            if allowed:
                found.append(node)
        return found

