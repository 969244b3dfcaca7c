"""Full-text search over a corpus, behind one small interface that training can use.

The index stage writes one SQLite file (FTS5, BM25 ranking) that needs no server;
``train`` reaches it through :func:`open_searcher` without importing ``corpus``. A user whose
corpus lives in a search server points :func:`open_searcher` at that server instead
(``http(s)://host:9200/index_name``: OpenSearch or Elasticsearch, through their ``_search`` API).
Standard library only: this module must stay importable without torch or corpus's deps.

Every language in one index: FTS5's ``unicode61`` tokenizer splits words at spaces and
punctuation, which finds nothing in Chinese, Japanese or Thai (a whole sentence is one
"word"). So text in those scripts is indexed, and queries are segmented, as overlapping
character bigrams (the classic CJK analyzer of Lucene); the original text is stored apart
and snippets are cut from it.
"""
from __future__ import annotations

import base64
import json
import math
import re
import sqlite3
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Protocol
from urllib.parse import quote, urlsplit

INDEX_FILE = "search.sqlite"
#: How text becomes index terms; an index written with another analyzer is rebuilt, not reused.
ANALYZER = "unicode61-rd2+nospace-bigrams-v1"
SNIPPET_CHARS = 300
#: Postings a query reads at most (beyond its rarest term): BM25 over the rare terms only.
POSTINGS_BUDGET = 5000


@dataclass(frozen=True)
class Hit:
    """One search result: enough to cite the source and show why it matched."""
    id: str
    url: str
    title: str
    snippet: str
    score: float


class Searcher(Protocol):
    def search(self, query: str, k: int = 5, strict: bool = False) -> list[Hit]: ...

    def close(self) -> None: ...


# --- analysis: the same for documents and queries ------------------------------------------

#: Scripts written without spaces between words: Thai, Lao, Myanmar, Khmer, kana, CJK ideographs, Hangul.
_NOSPACE = ("\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf"
            "\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af")
_NOSPACE_RUN = re.compile(f"[{_NOSPACE}]+")
_WORD = re.compile(r"\w+", re.UNICODE)


def _bigrams(run: str) -> list[str]:
    return [run] if len(run) < 2 else [run[i:i + 2] for i in range(len(run) - 1)]


def segment(text: str) -> str:
    """``text`` as the index sees it: runs of no-space scripts as space-separated bigrams."""
    return _NOSPACE_RUN.sub(lambda m: " " + " ".join(_bigrams(m.group())) + " ", text)


def fold(term: str) -> str:
    """A term as ``unicode61 remove_diacritics 2`` stores it: lower case, no accents."""
    if term.isascii():
        return term.lower()
    decomposed = unicodedata.normalize("NFKD", term.lower())
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def terms(text: str) -> list[str]:
    """The distinct index terms of a text, in order of first appearance."""
    return list(dict.fromkeys(fold(w) for w in _WORD.findall(segment(text))))


def fts_query(text: str) -> str:
    """A free-text question as an FTS5 query: its terms OR-ed, each quoted (no syntax errors)."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms(text))


# --- the index file ------------------------------------------------------------------------

def create_index(path: str | Path) -> sqlite3.Connection:
    """An index file, created empty if new (the index stage fills it through :func:`add_documents`).

    ``docs`` holds each document's original text (for snippets and for removing it again);
    ``fts`` is contentless: only the inverted index of the segmented text, no second copy.
    ``parts`` records which input parts the index holds, so a rerun adds only new ones."""
    con = sqlite3.connect(str(path), timeout=3600)
    con.executescript(
        "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);"
        "CREATE TABLE IF NOT EXISTS docs(rowid INTEGER PRIMARY KEY, id TEXT, url TEXT, title TEXT,"
        " lang TEXT, text TEXT, part TEXT);"
        "CREATE INDEX IF NOT EXISTS docs_part ON docs(part);"
        "CREATE TABLE IF NOT EXISTS parts(part TEXT PRIMARY KEY, docs INTEGER, record TEXT);"
        "CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(title, body, content='',"
        " tokenize='unicode61 remove_diacritics 2');")
    con.execute("INSERT OR IGNORE INTO meta VALUES ('analyzer', ?)", (ANALYZER,))
    con.commit()
    return con


def index_analyzer(con: sqlite3.Connection) -> str | None:
    row = con.execute("SELECT value FROM meta WHERE key = 'analyzer'").fetchone()
    return row[0] if row else None


def add_documents(con: sqlite3.Connection, docs: Iterable[dict], part: str = "",
                  commit: bool = True) -> int:
    """Add documents (dicts with id, url, title, text, lang) from input ``part``; return how many."""
    n = 0
    for d in docs:
        title = d.get("title") or ""
        cur = con.execute("INSERT INTO docs(id, url, title, lang, text, part) VALUES (?, ?, ?, ?, ?, ?)",
                          (d["id"], d.get("url") or "", title, d.get("lang") or "", d["text"], part))
        con.execute("INSERT INTO fts(rowid, title, body) VALUES (?, ?, ?)",
                    (cur.lastrowid, segment(title), segment(d["text"])))
        n += 1
    if commit:
        con.commit()
    return n


def indexed_parts(con: sqlite3.Connection) -> dict[str, dict]:
    """The input parts the index holds: part -> the record saved with it."""
    return {p: json.loads(r or "{}") for p, r in con.execute("SELECT part, record FROM parts")}


def record_part(con: sqlite3.Connection, part: str, docs: int, record: dict) -> None:
    con.execute("INSERT OR REPLACE INTO parts VALUES (?, ?, ?)", (part, docs, json.dumps(record)))


def remove_part(con: sqlite3.Connection, part: str) -> int:
    """Take a part's documents out of the index (a contentless table is told the exact
    terms to remove, so they are segmented again as they were when added)."""
    rows = con.execute("SELECT rowid, title, text FROM docs WHERE part = ?", (part,)).fetchall()
    for rowid, title, text in rows:
        con.execute("INSERT INTO fts(fts, rowid, title, body) VALUES ('delete', ?, ?, ?)",
                    (rowid, segment(title or ""), segment(text or "")))
    con.execute("DELETE FROM docs WHERE part = ?", (part,))
    con.execute("DELETE FROM parts WHERE part = ?", (part,))
    return len(rows)


# --- searching -----------------------------------------------------------------------------

_SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]*")


def snippet(text: str, weights: dict[str, float], chars: int = SNIPPET_CHARS) -> str:
    """The passage of the original ``text`` that holds the most (idf-weighted) query terms:
    its best sentence, and the next one too when short."""
    spans = [m.span() for m in _SENTENCE.finditer(text) if m.group().strip()]
    if not spans:
        return text[:chars].strip()
    low = text.lower()
    # only the sentences holding the rarest terms found (as substrings) are analysed; all of
    # them when none is (accents may hide a term)
    maybe: list[int] = []
    for w_min in sorted({w for w in weights.values()}, reverse=True):
        rare = [t for t, w in weights.items() if w >= w_min]
        maybe = [i for i, (a, b) in enumerate(spans) if any(t in low[a:b] for t in rare)]
        if maybe:
            break
    scores = {i: sum(weights.get(t, 0.0) for t in terms(text[spans[i][0]:spans[i][1]]))
              for i in (maybe or range(len(spans)))}
    best = max(scores, key=lambda i: (scores[i], -i))
    a, b = spans[best]
    if b - a < chars // 2 and best + 1 < len(spans):
        b = spans[best + 1][1]
    out = text[a:b].strip()
    if len(out) > chars:
        out = out[:chars].rsplit(" ", 1)[0] + "…"
    return out


class SqliteSearcher:
    """BM25 search over an index file written by :func:`create_index`/:func:`add_documents`."""

    can_be_strict = True

    def __init__(self, path: str | Path):
        path = Path(path)
        if path.is_dir():
            path = path / INDEX_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no search index at {path} (run `corpus index PIPELINE`)")
        self.path = path
        self.con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self.n_docs = self.con.execute("SELECT count(*) FROM docs").fetchone()[0]

    def _doc_freq(self, term: str, cap: int) -> int:
        """Documents holding ``term``, counted up to ``cap`` (a full count of a common term
        reads its whole posting list: the cost the query tries to avoid)."""
        q = '"' + term.replace('"', '""') + '"'
        return self.con.execute("SELECT count(*) FROM (SELECT 1 FROM fts WHERE fts MATCH ? LIMIT ?)",
                                (q, cap)).fetchone()[0]

    def search(self, query: str, k: int = 5, strict: bool = False) -> list[Hit]:
        """The ``k`` best documents for ``query`` by BM25. ``strict``: only relevant ones, see
        :meth:`_strict_query`."""
        ts = terms(query)
        if not ts or k <= 0:
            return []
        # A query costs what its terms' posting lists hold, and common terms weigh next to
        # nothing in BM25: take the rarest terms, up to a budget of postings (at least one).
        budget = max(POSTINGS_BUDGET, self.n_docs // 50)
        df = {t: self._doc_freq(t, budget + 1) for t in ts}
        if strict:
            q = self._strict_query(query, ts, df)
            if q is None:
                return []
            return self._hits(q, k, [t for t in ts if df[t]], df)
        kept, postings = [], 0
        for t in sorted((t for t in ts if df[t]), key=lambda t: df[t]):
            if kept and postings + df[t] > budget:
                break
            kept.append(t)
            postings += df[t]
        if not kept:
            return []
        return self._hits(" OR ".join(_quoted(t) for t in kept), k, kept, df)

    def _strict_query(self, query: str, ts: list[str], df: dict[str, int]) -> str | None:
        """Relevance, not just rank: a name in the query (a capitalised word, not the first)
        that no document holds means no document is about the query, so nothing is returned;
        and a hit must hold every rare word of the query (at most 1% of the documents hold
        it: the names), not only the common ones ("Railway", "opened"). This is what lets an
        assistant say "I don't know" when the corpus has nothing: without it, a question about
        an unknown bridge still returns some other bridge. An unknown lower-case word ("where"
        in a corpus that never asks) is ignored, as are scripts without case or spaces (CJK
        bigrams across word boundaries are in no document). None: nothing is relevant."""
        words = _WORD.findall(query)[1:]
        names = {fold(w) for w in words if w[:1].isupper() and not _NOSPACE_RUN.search(w)}
        if any(df.get(t) == 0 for t in names):
            return None
        rare = [t for t in ts if 0 < df[t] <= max(1, self.n_docs // 100) and not _NOSPACE_RUN.fullmatch(t)]
        if rare:
            return " AND ".join(_quoted(t) for t in rare)
        found = [t for t in ts if df[t]]
        return " OR ".join(_quoted(t) for t in found) if found else None

    def _hits(self, q: str, k: int, ts: list[str], df: dict[str, int]) -> list[Hit]:
        ranked = self.con.execute("SELECT rowid, bm25(fts) FROM fts WHERE fts MATCH ? ORDER BY bm25(fts)"
                                  " LIMIT ?", (q, int(k))).fetchall()
        idf = {t: math.log(1 + (self.n_docs - df[t] + 0.5) / (df[t] + 0.5)) for t in ts}
        hits = []
        for rowid, score in ranked:
            i, u, title, text = self.con.execute("SELECT id, url, title, text FROM docs WHERE rowid = ?",
                                                 (rowid,)).fetchone()
            hits.append(Hit(i, u, title or "", snippet(text or "", idf), -float(score)))
        return hits

    def close(self) -> None:
        self.con.close()


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


class HttpSearcher:
    """An OpenSearch/Elasticsearch index (``http(s)://[user:password@]host:9200/index_name``),
    queried with ``multi_match`` over ``title`` and ``text``. Its documents carry ``url``,
    ``title`` and ``text`` fields (the index stage's columns); the hit's id is ``_id``."""

    def __init__(self, location: str, timeout: float = 30.0):
        parts = urlsplit(location)
        index = parts.path.strip("/")
        if not parts.hostname or not index or "/" in index:
            raise ValueError(f"search server location must be http(s)://host:port/index_name, got {location!r}")
        port = f":{parts.port}" if parts.port else ""
        self.endpoint = f"{parts.scheme}://{parts.hostname}{port}/{quote(index)}/_search"
        self.headers = {"Content-Type": "application/json"}
        if parts.username:
            cred = f"{parts.username}:{parts.password or ''}".encode()
            self.headers["Authorization"] = "Basic " + base64.b64encode(cred).decode()
        self.timeout = timeout

    can_be_strict = False   # relevance rules are the server's own (its query settings)

    def search(self, query: str, k: int = 5, strict: bool = False) -> list[Hit]:
        if strict:
            raise ValueError("strict search needs the embedded index; set relevance rules on the server")
        body = {"size": int(k),
                "query": {"multi_match": {"query": query, "fields": ["title", "text"]}},
                "_source": ["url", "title", "text"],
                "highlight": {"fields": {"text": {"fragment_size": SNIPPET_CHARS, "number_of_fragments": 1}},
                              "pre_tags": [""], "post_tags": [""]}}
        import urllib.error  # heavy: with urllib.request, only for a search server
        import urllib.request  # heavy: ~5 ms (http.client, email); every corpus command imports this module

        req = urllib.request.Request(self.endpoint, data=json.dumps(body).encode(), headers=self.headers,
                                     method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                answer = json.load(resp)
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise ConnectionError(f"search server {self.endpoint}: {err}") from None
        hits = []
        for h in answer.get("hits", {}).get("hits", []):
            src = h.get("_source") or {}
            text = ((h.get("highlight") or {}).get("text") or [src.get("text") or ""])[0]
            hits.append(Hit(str(h.get("_id", "")), src.get("url") or "", src.get("title") or "",
                            text[:SNIPPET_CHARS], float(h.get("_score") or 0.0)))
        return hits

    def close(self) -> None:
        pass


def open_searcher(location: str | Path) -> Searcher:
    """The searcher for ``location``: an index file or the folder holding it, or the URL of an
    OpenSearch/Elasticsearch index (``https://host:9200/index_name``)."""
    if str(location).startswith(("http://", "https://")):
        return HttpSearcher(str(location))
    return SqliteSearcher(location)
