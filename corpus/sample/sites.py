"""The fictional web sites of the sample crawl and the HTML they wrap articles in.

Every site has its own boilerplate (navigation, cookie banner, sidebars, related links,
share buttons, footer with legal links), repeated on each of its pages, so extraction
has real work to do: keep the ``<article>`` text, drop everything around it.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from .language import language


@dataclass(frozen=True)
class Site:
    domain: str
    name: str
    lang: str
    style: str  # news | blog | gov | shop | forum
    charset: str = "utf-8"
    charset_declared: str = "header"  # header | meta | none

    def url(self, path: str) -> str:
        return f"https://{self.domain}/{path}"


def _load_sites() -> list[Site]:
    with Path(__file__).with_name("sites.yaml").open(encoding="utf-8") as fh:
        return [Site(**entry) for entry in yaml.safe_load(fh)]


#: The fictional sites, in the order of ``sites.yaml`` (the generator picks some by index).
SITES: list[Site] = _load_sites()

SECTIONS = {"news": "news", "blog": "posts", "gov": "press", "shop": "journal", "forum": "thread"}


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def _links(site: Site, items: list[tuple[str, str]], cls: str) -> str:
    lis = "".join(f'<li><a href="{esc(href)}">{esc(text)}</a></li>' for text, href in items)
    return f'<ul class="{cls}">{lis}</ul>'


def _head(site: Site, title: str, meta_charset: str | None, published: str | None) -> str:
    meta = f'<meta charset="{meta_charset}">' if meta_charset else ""
    ld = ""
    if published:  # structured data, as CMSs emit it (extractors read dates from here)
        data = {"@context": "https://schema.org", "@type": "NewsArticle", "headline": title,
                "datePublished": published, "inLanguage": site.lang,
                "publisher": {"@type": "Organization", "name": site.name}}
        ld = f'<script type="application/ld+json">{esc_json(data)}</script>'
    return (f'<!DOCTYPE html>\n<html lang="{site.lang}"><head>{meta}'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)} | {esc(site.name)}</title>"
            f'<link rel="stylesheet" href="/static/site.css">'
            f"<style>.cookie-consent{{position:fixed;bottom:0}}.menu li{{display:inline}}</style>{ld}"
            f'<script src="/static/consent.js" defer></script>'
            f"<script>window.dataLayer = window.dataLayer || []; function gtag(){{dataLayer.push(arguments);}}"
            f" gtag('js', new Date());</script></head>\n")


def esc_json(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True).replace("</", "<\\/")


def _header(site: Site, ui: dict) -> str:
    nav = _links(site, [(n, f"/{i}/") for i, n in enumerate(ui["nav"])], "menu")
    extra = ""
    if site.style == "shop":
        extra = f'<div class="cart"><a href="/cart">{esc(ui["cart"])} (0)</a></div>'
    elif site.style == "forum":
        extra = f'<div class="user"><a href="/login">{esc(ui["login"])}</a></div>'
    return (f'<header class="site-header"><div class="logo"><a href="/">{esc(site.name)}</a></div>'
            f'<form class="search" action="/search"><input name="q" placeholder="{esc(ui["search"])}"></form>'
            f"{extra}<nav>{nav}</nav></header>\n")


def _cookie(ui: dict) -> str:
    return (f'<div id="cookie-banner" class="cookie-consent"><p>{esc(ui["cookie"])}</p>'
            f'<button>{esc(ui["accept"])}</button><button>{esc(ui["reject"])}</button></div>\n')


def _footer(site: Site, ui: dict, year: int) -> str:
    legal = _links(site, [(t, f"/legal/{i}") for i, t in enumerate(ui["legal"])], "legal")
    return (f'<footer class="site-footer">{legal}<p class="newsletter"><a href="/newsletter">{esc(ui["newsletter"])}</a></p>'
            f'<p class="copyright">© {year} {esc(site.name)}. {esc(ui["rights"])}</p>'
            f'<a class="top" href="#">{esc(ui["back"])}</a></footer>\n')


def _share(ui: dict) -> str:
    return (f'<div class="share"><span>{esc(ui["share"])}</span>'
            '<a href="#share-mail">Mail</a><a href="#share-social">Social</a><a href="#share-link">Link</a></div>\n')


def render_page(site: Site, title: str, paragraphs: list[str], related: list[tuple[str, str]],
                year: int, intro: str | None = None, meta_charset: str | None = None,
                as_links: bool = False, published: str | None = None) -> str:
    """A whole page: the site's boilerplate around an article (or none when ``paragraphs`` is empty).

    ``as_links`` renders the paragraphs as a list of links (a link-farm page)."""
    ui = language(site.lang).ui
    parts = [_head(site, title, meta_charset, published), "<body>\n",
             '<noscript><p>Please enable JavaScript to use all features of this site.</p></noscript>\n',
             _cookie(ui), _header(site, ui)]
    if published:
        parts.append(f'<div class="dateline"><time datetime="{published}">{published[:10]}</time></div>\n')
    rel = (f'<aside class="related"><h2>{esc(ui["related"])}</h2>'
           f'{_links(site, related, "related-list")}</aside>\n')
    if as_links:
        body = "<ul>" + "".join(f'<li><a href="/go/{i}">{esc(p)}</a></li>\n' for i, p in enumerate(paragraphs)) + "</ul>\n"
    else:
        body = "".join(f"<p>{esc(p)}</p>\n" for p in paragraphs)
    if intro:
        body = f"<p>{esc(intro)}</p>\n" + body
    if not paragraphs:
        article = ""
    elif site.style == "news":
        article = f'<article class="story"><h1>{esc(title)}</h1>\n{body}</article>\n'
    elif site.style == "blog":
        article = f'<article class="post"><h1 class="entry-title">{esc(title)}</h1>\n<div class="entry-content">{body}</div></article>\n'
    elif site.style == "gov":
        article = f'<div id="content" class="main-content"><h1>{esc(title)}</h1>\n{body}</div>\n'
    elif site.style == "shop":
        article = f'<article class="journal-entry"><h1>{esc(title)}</h1>\n{body}</article>\n'
    else:  # forum: the opening post of a thread
        article = (f'<article class="post first-post"><h1 class="thread-title">{esc(title)}</h1>\n'
                   f'<div class="post-body">{body}</div></article>\n'
                   f'<div class="reply-box"><a href="/login">{esc(ui["reply"])}</a></div>\n')
    if site.style == "gov":
        crumbs = _links(site, [(ui["nav"][0], "/"), (ui["nav"][1], "/1/")], "breadcrumb")
        parts.append(f'<main><nav class="crumbs">{crumbs}</nav>\n{article}</main>\n{rel}')
    elif site.style == "blog":
        cats = _links(site, [(n, f"/category/{i}") for i, n in enumerate(ui["nav"][1:6])], "categories")
        parts.append(f'<main>{article}{_share(ui)}</main>\n<aside class="sidebar"><h3>{esc(ui["about"])}</h3>'
                     f'<p><a href="/about">{esc(site.name)}</a></p><h3>{esc(ui["categories"])}</h3>{cats}</aside>\n{rel}')
    elif site.style == "shop":
        shop = _links(site, [(f"{ui['cart']} {i}", f"/product/{i}") for i in range(1, 5)], "products")
        parts.append(f'<main>{article}</main>\n<aside class="products-box">{shop}</aside>\n{rel}')
    else:
        most = _links(site, related[::-1][:3], "most-read")
        parts.append(f'<main>{article}{_share(ui)}{rel}</main>\n<aside class="sidebar"><h3>{esc(ui["most_read"])}</h3>{most}'
                     f'<div class="subscribe"><a href="/subscribe">{esc(ui["subscribe"])}</a></div></aside>\n')
    parts.append(_footer(site, ui, year))
    parts.append("</body></html>\n")
    return "".join(parts)
