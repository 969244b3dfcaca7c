"""Full-text search over a corpus, behind one small interface that training can use.

The index stage writes one SQLite file (FTS5, BM25 ranking) that needs no server;
``train`` reaches it through :func:`open_searcher` without importing ``corpus``. A user whose
corpus lives in a search server points :func:`open_searcher` at that server instead.
Standard library only: this module must stay importable without torch or corpus's deps.
"""
from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Protocol

INDEX_FILE = "search.sqlite"


@dataclass(frozen=True)
class Hit:
    """One search result: enough to cite the source and show why it matched."""
    id: str
    url: str
    title: str
    snippet: str
    score: float


class Searcher(Protocol):
    def search(self, query: str, k: int = 5) -> list[Hit]: ...

    def close(self) -> None: ...


_WORD = re.compile(r"\w+", re.UNICODE)


def fts_query(text: str) -> str:
    """A free-text question as an FTS5 query: its words OR-ed, each quoted (no syntax errors)."""
    words = _WORD.findall(text)
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


def create_index(path: str | Path) -> sqlite3.Connection:
    """An empty index file (the index stage fills it through :func:`add_documents`)."""
    con = sqlite3.connect(str(path))
    con.executescript(
        "CREATE TABLE IF NOT EXISTS docs(rowid INTEGER PRIMARY KEY, id TEXT UNIQUE, url TEXT,"
        " title TEXT, lang TEXT);"
        "CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(title, body,"
        " tokenize='unicode61 remove_diacritics 2');")
    return con


def add_documents(con: sqlite3.Connection, docs: Iterable[dict]) -> int:
    """Add documents (dicts with id, url, title, text, lang); return how many."""
    n = 0
    for d in docs:
        cur = con.execute("INSERT INTO docs(id, url, title, lang) VALUES (?, ?, ?, ?)",
                          (d["id"], d.get("url") or "", d.get("title") or "", d.get("lang") or ""))
        con.execute("INSERT INTO fts(rowid, title, body) VALUES (?, ?, ?)",
                    (cur.lastrowid, d.get("title") or "", d["text"]))
        n += 1
    con.commit()
    return n


class SqliteSearcher:
    """BM25 search over an index file written by :func:`create_index`/:func:`add_documents`."""

    def __init__(self, path: str | Path):
        path = Path(path)
        if path.is_dir():
            path = path / INDEX_FILE
        if not path.exists():
            raise FileNotFoundError(f"no search index at {path} (run `corpus index PIPELINE`)")
        self.path = path
        self.con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)

    def search(self, query: str, k: int = 5) -> list[Hit]:
        q = fts_query(query)
        if not q:
            return []
        rows = self.con.execute(
            "SELECT d.id, d.url, d.title, snippet(fts, 1, '', '', '…', 24), bm25(fts)"
            " FROM fts JOIN docs d ON d.rowid = fts.rowid WHERE fts MATCH ?"
            " ORDER BY bm25(fts) LIMIT ?", (q, int(k))).fetchall()
        return [Hit(i, u, t, s, -float(b)) for i, u, t, s, b in rows]

    def close(self) -> None:
        self.con.close()


def open_searcher(location: str | Path) -> Searcher:
    """The searcher for ``location``: an index file or the folder holding it."""
    return SqliteSearcher(location)
