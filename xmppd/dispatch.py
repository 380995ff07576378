"""
The host's stanza dispatcher: xish's EventDispatcher with its XPath
observers indexed by what each one's first step demands.

xish tries every observer's XPath on every stanza. A host carries some
forty of them (every module's IQ namespaces, presence, messages), so a
chat message was matched against all the IQ queries before it met the
two observers that want it -- a seventh of the server's time routing live
messages. Every observer still gets exactly the stanzas it got before, in
the same order: the index only leaves out queries whose first step names
another element, or another ``type`` by an ``@type='…'`` equality, which
could not have matched. What is left of a query is then checked by a
plain function where it is one named child (``/message/amp[@xmlns='…']``),
and by its XPath otherwise.
"""

from twisted.python import log
from twisted.words.xish import utility, xpath
from wokkel.generic import XmlPipe

# What a query's first step does not constrain.
ANY = None
# At most this many (name, type) pairs are remembered as stanzas name them.
MAX_REMEMBERED_KINDS = 256


def firstStep(query):
    """
    ``(name, type)`` that an element must have for ``query`` to match it,
    either ``ANY`` when the first step does not say (``/*``, ``//x``, or
    a predicate other than a plain ``@type='…'``).
    """
    location = query.baseLocation
    if type(location) is not xpath._Location:
        # '//name' matches at any depth: it may want any stanza.
        return ANY, ANY
    kind = ANY
    for predicate in location.predicates:
        literal = _literalEquality(predicate, "type")
        if literal is not None:
            kind = literal
    return location.elementName, kind


def _literalEquality(predicate, attribute):
    """The literal of ``[@attribute='literal']``, or None for any other predicate."""
    if (isinstance(predicate, xpath.CompareValue)
            and getattr(predicate.value, "__func__", None) is xpath.CompareValue._compareEqual
            and isinstance(predicate.lhs, xpath.AttribValue)
            and predicate.lhs.attribname == attribute
            and isinstance(predicate.rhs, xpath.LiteralValue)):
        return str(predicate.rhs)
    return None


def matcherFor(query):
    """
    What is left to check of ``query`` once the index has matched its first
    step: None when nothing is (``/message``, ``/iq[@type='result']``), a
    ``(name, uri)`` key for a first step and one child named, in a
    namespace or not (``/message/amp[@xmlns='…']``; ``ANY`` for what it
    leaves open), to look up among the stanza's ``childKeys``, else the
    query's own XPath match.
    """
    location = query.baseLocation
    name, kind = firstStep(query)
    if name is ANY or len(location.predicates) != (0 if kind is ANY else 1):
        return query.matches
    child = location.childLocation
    if child is None:
        return None
    if type(child) is not xpath._Location or child.childLocation is not None:
        return query.matches
    childName = child.elementName
    uri = ANY
    if child.predicates:
        uri = _literalEquality(child.predicates[0], "xmlns")
        if uri is None or len(child.predicates) > 1:
            return query.matches
    return (childName, uri)


def childKeys(children):
    """
    The ``(name, uri)`` keys that the child elements in ``children`` match,
    with ``ANY`` in either place: a host's IQ observers all ask for one
    child (a dozen queries for a roster get), and each read of an element's
    name or namespace takes CPython's slow path (domish's __getattr__), so
    the children are read once per stanza, not once per query.
    """
    keys = set()
    for node in children:
        # The type is asked of its class: isinstance(node, str) would read
        # the element's __class__, a slow read.
        if issubclass(type(node), str):
            continue
        try:
            fields = node.__dict__
            name, uri = fields["name"], fields["uri"]
        except (AttributeError, KeyError):
            name, uri = node.name, node.uri
        keys.update(((name, uri), (name, ANY), (ANY, uri), (ANY, ANY)))
    return keys


class StanzaDispatcher(utility.EventDispatcher):
    """
    An EventDispatcher whose XPath dispatch visits only the observers a
    stanza's name and type can satisfy; named events are xish's own.
    """

    def __init__(self, eventprefix="//event/"):
        utility.EventDispatcher.__init__(self, eventprefix)
        self._candidates = {}
        self._names = set()
        self._types = set()

    def _addObserver(self, onetime, event, observerfn, priority, *args, **kwargs):
        utility.EventDispatcher._addObserver(
            self, onetime, event, observerfn, priority, *args, **kwargs)
        self._forget()

    def removeObserver(self, event, observerfn):
        utility.EventDispatcher.removeObserver(self, event, observerfn)
        self._forget()

    def _forget(self):
        # Called again for updates queued during a dispatch, once they apply.
        self._candidates = {}

    def _observersFor(self, name, kind):
        """
        The (priority, query, callbacks, matcher, direct) that may match, in
        xish's order; ``direct`` is the one observer to call when the query
        has exactly one, lasting and without extra arguments (see _directCall).
        """
        if not self._candidates:
            self._names, self._types = set(), set()
            for priorityObservers in self._xpathObservers.values():
                for query in priorityObservers:
                    wantedName, wantedKind = firstStep(query)
                    self._names.add(wantedName)
                    self._types.add(wantedKind)
        # Names and types no observer asks for share one entry, so that a
        # peer's made-up names cannot grow the index.
        key = (name if name in self._names else ANY, kind if kind in self._types else ANY)
        found = self._candidates.get(key)
        if found is not None and len(self._candidates) < MAX_REMEMBERED_KINDS:
            # Remembered under the stanza's own name and type as well, for
            # dispatch to find without this call; a peer's made-up types
            # are not remembered past the bound.
            self._candidates[name, kind] = found
        if found is None:
            found = []
            for priority in sorted(self._xpathObservers, reverse=True):
                for query, callbacks in self._xpathObservers[priority].items():
                    wantedName, wantedKind = firstStep(query)
                    if wantedName is not ANY and wantedName != key[0]:
                        continue
                    if wantedKind is not ANY and wantedKind != key[1]:
                        continue
                    found.append((priority, query, callbacks, matcherFor(query),
                                  _directCall(callbacks)))
            self._candidates[key] = found
            if len(self._candidates) < MAX_REMEMBERED_KINDS:
                self._candidates[name, kind] = found
        return found

    def dispatch(self, obj, event=None):
        if event is not None:
            return utility.EventDispatcher.dispatch(self, obj, event)
        # One slow read of the element (domish's __getattr__), not two.
        try:
            fields = obj.__dict__
            name = fields["name"]
            kind = fields["attributes"].get("type")
        except (AttributeError, KeyError):
            # An element that keeps its name or attributes elsewhere.
            fields = None
            name = obj.name
            kind = obj.attributes.get("type")
        # _observersFor's answer for a name and type seen before, without
        # its call: every stanza a host receives comes here.
        observers = self._candidates.get((name, kind))
        if observers is None:
            observers = self._observersFor(name, kind)
        foundTarget = False
        self._dispatchDepth += 1
        emptyLists = None
        keys = None
        try:
            for priority, query, callbacks, matches, direct in observers:
                if matches is None:
                    found = True
                elif type(matches) is tuple:
                    if keys is None:
                        keys = childKeys(obj.children if fields is None else fields["children"])
                    found = matches in keys
                else:
                    found = matches(obj)
                if found:
                    foundTarget = True
                    # The observer may change the stanza: the keys are read again.
                    keys = None
                    if direct is not None:
                        try:
                            direct(obj)
                        except BaseException:
                            log.err()
                        continue
                    _callEach(callbacks, obj)
                    if not callbacks.callbacks:
                        if emptyLists is None:
                            emptyLists = []
                        emptyLists.append((priority, query))
        finally:
            self._dispatchDepth -= 1
        if emptyLists:
            for priority, query in emptyLists:
                self._xpathObservers[priority].pop(query, None)
            self._forget()
        if self._dispatchDepth == 0 and self._updateQueue:
            updates, self._updateQueue = self._updateQueue, []
            for update in updates:
                update()
        return foundTarget


def _directCall(callbacks):
    """
    The observer itself when ``callbacks`` holds just one, not one-time, and
    registered without extra arguments (the router's, AMP's): _callEach
    would copy the list and unpack the entry for every stanza to call it.
    The index is rebuilt whenever an observer is added or removed, and only
    a one-time observer leaves the list otherwise, so this stays true.
    """
    entries = list(callbacks.callbacks.values())
    if len(entries) != 1:
        return None
    wrapper, onetime = entries[0]
    if onetime or wrapper.args or wrapper.kwargs:
        return None
    return wrapper.method


def _callEach(callbacks, obj):
    """
    CallbackList.callback(obj): each observer in turn, its exception logged,
    a one-time one removed; an observer registered without extra arguments
    (every module's) is called directly rather than through xish's wrapper,
    which copies its keyword arguments on every call.
    """
    for key, (wrapper, onetime) in list(callbacks.callbacks.items()):
        try:
            if wrapper.args or wrapper.kwargs:
                wrapper(obj)
            else:
                wrapper.method(obj)
        except BaseException:
            log.err()
        if onetime:
            del callbacks.callbacks[key]


class StanzaPipe(XmlPipe):
    """Wokkel's in-memory pipe, its source end (where the modules observe) indexed."""

    def __init__(self):
        XmlPipe.__init__(self)
        send = self.source.send
        self.source = StanzaDispatcher()
        self.source.send = send
