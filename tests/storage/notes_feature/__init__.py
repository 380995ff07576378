"""
A module's own feature, as a third party would write it: a store with an
account's rows (``NotesStore``) and its table in ``schema/<dialect>/``.
"""

from xmppd.api import Module, SQLStore


class NotesStore(SQLStore):
    accountTables = [("test_notes", "owner")]

    def add(self, owner, text):
        return self.database.runOperation(
            "INSERT INTO test_notes (owner, text) VALUES (?, ?)", (owner, text))

    def count(self, owner):
        d = self.database.runQuery("SELECT COUNT(*) FROM test_notes WHERE owner = ?", (owner,))
        d.addCallback(lambda rows: int(rows[0][0]))
        return d


notesModule = Module("notes", lambda host, options: [], enabledByDefault=False,
                     stores={"notes": NotesStore}, tables=__name__)
