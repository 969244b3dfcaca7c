"""Make trafilatura's lxml work cheaper without changing a single output.

Two changes, each giving lxml the very answer it gave before, measured on real pages:

- :func:`native_class_lookup`: lxml.html picks each element's Python class in a Python
  method; a namespace lookup holding the same table picks it in C.
- :func:`guard_regex_tests`: trafilatura's XPath expressions test ``@id`` and ``@class``
  with EXSLT regular expressions (``re:test(@id, 'nav|menu')``), and libxml2 calls back into
  Python for every element it visits, attribute or not. Where the pattern cannot match the
  empty string, ``re:test(@id, p)`` is true only when ``@id`` exists, so
  ``(@id and re:test(@id, p))`` selects the same elements and skips the call for the
  elements without the attribute (most of them).
"""
from __future__ import annotations

import re
import sys

REGEXP_NS = "http://exslt.org/regular-expressions"
#: the first argument we guard: an attribute, or a union of attributes (``@id|@class``)
_ATTRIBUTES = re.compile(r"\s*@[\w.-]+(?:\s*\|\s*@[\w.-]+)*\s*$")
#: a namespace prefix in an expression (``re:test``), not an axis (``self::div``)
_PREFIX = re.compile(r"(?<![\w.:-])([A-Za-z_][\w.-]*):(?!:)")
_LITERAL = re.compile(r"'[^']*'|\"[^\"]*\"")
#: id(expression) -> (expression, its guarded form), and id(guarded) -> (guarded, original):
#: the objects are kept alive with their ids, so that no id is reused
_guarded: dict[int, tuple[object, object]] = {}
_originals: dict[int, tuple[object, object]] = {}


def native_class_lookup(parser) -> bool:
    """Give an ``lxml.html`` parser the element classes of its own lookup, chosen in C.

    lxml.html's lookup is a Python method called for every element proxy lxml creates, and
    trafilatura creates about 2,000 per page (XPath results, iteration, tree copies): ~5% of
    its time here. A namespace lookup holding the same tag -> class table (``form``,
    ``input``... and ``HtmlElement`` for the rest) gives every element the very class it had,
    without entering Python. Returns False, changing nothing, for a parser that is not
    lxml.html's or an lxml without that table."""
    from lxml import etree, html  # heavy: lxml is loaded by the extractor anyway

    classes = getattr(html.HtmlElementClassLookup, "_default_element_classes", None)
    if not isinstance(parser, html.HTMLParser) or not isinstance(classes, dict):
        return False
    lookup = etree.ElementNamespaceClassLookup(etree.ElementDefaultClassLookup(
        element=html.HtmlElement, comment=html.HtmlComment, pi=html.HtmlProcessingInstruction,
        entity=html.HtmlEntity))
    lookup.get_namespace(None).update(classes)
    parser.set_element_class_lookup(lookup)
    return True


def _masked(path: str) -> str:
    """``path`` with the inside of its string literals blanked, same length: what is left is
    structure. XPath 1.0 literals have no escapes: a quote ends at the next one."""
    return _LITERAL.sub(lambda m: m[0][0] + " " * (len(m[0]) - 2) + m[0][-1], path)


def _argument_spans(masked: str, start: int) -> tuple[list[tuple[int, int]], int]:
    """Where the top-level arguments are of the call whose ``(`` ends just before ``start``,
    and the index after its ``)``."""
    depth, begin, spans = 0, start, []
    for i in range(start, len(masked)):
        c = masked[i]
        if c in "([":
            depth += 1
        elif c in ")]" and depth:
            depth -= 1
        elif c == ")" or (c == "," and not depth):
            spans.append((begin, i))
            if c == ")":
                return spans, i + 1
            begin = i + 1
    raise ValueError(f"unbalanced XPath call at {start}: {masked!r}")


def _literal(arg: str) -> str | None:
    arg = arg.strip()
    return arg[1:-1] if len(arg) >= 2 and arg[0] == arg[-1] and arg[0] in "'\"" else None


def _never_empty_match(pattern: str | None, flags: str | None) -> bool:
    """True when ``pattern`` (as lxml compiles it: Python ``re``) cannot match ''."""
    if pattern is None or flags is None:
        return False
    try:
        return re.search(pattern, "", re.IGNORECASE if "i" in flags else 0) is None
    except re.error:
        return False


def guarded(path: str) -> tuple[str, int]:
    """``path`` with each ``re:test(@attr, 'p')`` that cannot match '' preceded by its
    attribute's existence test, and how many were guarded (0: ``path`` unchanged)."""
    masked = _masked(path)
    if {m.group(1) for m in _PREFIX.finditer(masked)} - {"re"}:
        return path, 0  # other prefixes: we could not compile it with the same namespaces
    out, i, count = [], 0, 0
    for call in re.finditer(r"(?<![\w.:-])re:test\(", masked):
        try:
            spans, end = _argument_spans(masked, call.end())
        except ValueError:  # not a valid expression: leave it to lxml to say so
            return path, 0
        args = [path[a:b] for a, b in spans]
        out.append(path[i:call.start()])
        if (len(args) in (2, 3) and _ATTRIBUTES.match(args[0])
                and _never_empty_match(_literal(args[1]), _literal(args[2]) if len(args) == 3 else "")):
            out.append(f"(({args[0].strip()}) and {path[call.start():end]})")
            count += 1
        else:
            out.append(path[call.start():end])
        i = end
    out.append(path[i:])
    return "".join(out), count


def _guarded_xpath(xpath):
    from lxml import etree  # heavy: lxml is loaded by the extractor anyway

    if id(xpath) in _originals:  # guarded already
        return xpath
    if id(xpath) not in _guarded:
        path, count = guarded(xpath.path)
        new = etree.XPath(path, namespaces={"re": REGEXP_NS}) if count else xpath
        _guarded[id(xpath)] = (xpath, new)
        if count:
            _originals[id(new)] = (new, xpath)
    return _guarded[id(xpath)][1]


def _original_xpath(xpath):
    return _originals.get(id(xpath), (xpath, xpath))[1]


def _replace_xpaths(package: str, replacement) -> int:
    """Replace every compiled XPath that ``package``'s loaded modules hold, alone or in
    lists (lists in place, so that modules which imported a list see the change)."""
    from lxml import etree  # heavy: lxml is loaded by the extractor anyway

    changed = 0
    modules = [m for name, m in list(sys.modules.items())
               if m is not None and (name == package or name.startswith(package + "."))]
    for module in modules:
        for name, value in list(vars(module).items()):
            if isinstance(value, etree.XPath):
                if (new := replacement(value)) is not value:
                    setattr(module, name, new)
                    changed += 1
            elif isinstance(value, list) and value and all(isinstance(x, etree.XPath) for x in value):
                for k, xpath in enumerate(value):
                    if (new := replacement(xpath)) is not xpath:
                        value[k] = new
                        changed += 1
    return changed


def guard_regex_tests(package: str = "trafilatura") -> int:
    """Guard the ``re:test`` calls of every XPath expression ``package`` holds; returns how
    many references changed (0 when called again)."""
    return _replace_xpaths(package, _guarded_xpath)


def unguard_regex_tests(package: str = "trafilatura") -> int:
    """Put back the expressions :func:`guard_regex_tests` replaced (for side-by-side runs)."""
    return _replace_xpaths(package, _original_xpath)
