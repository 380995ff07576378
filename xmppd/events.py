"""
Named events with priorities, the glue between modules (Prosody's model).

The module that decides something fires an event; the modules that react to
it hook it. A handler that returns a value other than None stops the event:
that is how "the first module to take this stanza owns it" is expressed, for
example offline storage taking a message that no resource could receive.
"""

from twisted.python import log


class EventBus:
    def __init__(self):
        self._handlers = {}

    def hook(self, name, handler, priority=0):
        """Call ``handler(*args)`` on ``name``; higher priorities run first."""
        handlers = self._handlers.setdefault(name, [])
        handlers.append((priority, len(handlers), handler))
        handlers.sort(key=lambda item: (-item[0], item[1]))

    def unhook(self, name, handler):
        self._handlers[name] = [h for h in self._handlers.get(name, []) if h[2] != handler]

    def fire(self, name, *args):
        """Run the handlers in order; return the first non-None result."""
        for _, _, handler in list(self._handlers.get(name, ())):
            try:
                result = handler(*args)
            except Exception:
                log.err(None, "handler for event %r failed" % (name,))
                continue
            if result is not None:
                return result
        return None
