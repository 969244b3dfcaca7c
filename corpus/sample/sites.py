"""The fictional web sites of the sample crawl and the HTML they wrap articles in.

Every site has its own boilerplate (navigation, cookie banner, sidebars, related links,
share buttons, footer with legal links), repeated on each of its pages, so extraction
has real work to do: keep the ``<article>`` text, drop everything around it.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

# Interface strings per language: navigation, banners, footers (boilerplate, not prose).
UI = {
    "en": dict(nav=["Home", "News", "Local", "Business", "Culture", "Sport", "Weather", "Contact"],
               cookie="We use cookies to improve your experience on our website. By continuing to browse you agree to our use of cookies.",
               accept="Accept all", reject="Settings", related="Related articles", most_read="Most read",
               share="Share this article", legal=["Privacy policy", "Terms of use", "Imprint", "Accessibility", "Cookie settings"],
               rights="All rights reserved.", newsletter="Sign up for our weekly newsletter", search="Search",
               subscribe="Subscribe", login="Log in", cart="Basket", reply="Log in to reply", about="About this blog",
               back="Back to top", categories="Categories", via="This article first appeared on"),
    "de": dict(nav=["Startseite", "Nachrichten", "Region", "Wirtschaft", "Kultur", "Sport", "Wetter", "Kontakt"],
               cookie="Wir verwenden Cookies, um Ihnen das beste Nutzererlebnis zu bieten. Mit der weiteren Nutzung stimmen Sie zu.",
               accept="Alle akzeptieren", reject="Einstellungen", related="Weitere Artikel", most_read="Meistgelesen",
               share="Artikel teilen", legal=["Datenschutz", "Nutzungsbedingungen", "Impressum", "Barrierefreiheit", "Cookie-Einstellungen"],
               rights="Alle Rechte vorbehalten.", newsletter="Jetzt den Newsletter abonnieren", search="Suche",
               subscribe="Abonnieren", login="Anmelden", cart="Warenkorb", reply="Zum Antworten anmelden", about="Über diesen Blog",
               back="Nach oben", categories="Kategorien", via="Dieser Artikel erschien zuerst bei"),
    "fr": dict(nav=["Accueil", "Actualités", "Région", "Économie", "Culture", "Sport", "Météo", "Contact"],
               cookie="Nous utilisons des cookies pour améliorer votre expérience. En poursuivant votre navigation, vous acceptez leur utilisation.",
               accept="Tout accepter", reject="Paramètres", related="À lire aussi", most_read="Les plus lus",
               share="Partager cet article", legal=["Confidentialité", "Conditions d'utilisation", "Mentions légales", "Accessibilité", "Gestion des cookies"],
               rights="Tous droits réservés.", newsletter="Inscrivez-vous à notre lettre d'information", search="Rechercher",
               subscribe="S'abonner", login="Se connecter", cart="Panier", reply="Connectez-vous pour répondre", about="À propos de ce blog",
               back="Haut de page", categories="Catégories", via="Cet article a d'abord été publié par"),
    "es": dict(nav=["Inicio", "Noticias", "Local", "Economía", "Cultura", "Deportes", "Tiempo", "Contacto"],
               cookie="Utilizamos cookies para mejorar su experiencia. Si continúa navegando, acepta su uso.",
               accept="Aceptar todas", reject="Configuración", related="Artículos relacionados", most_read="Lo más leído",
               share="Compartir este artículo", legal=["Privacidad", "Condiciones de uso", "Aviso legal", "Accesibilidad", "Configurar cookies"],
               rights="Todos los derechos reservados.", newsletter="Suscríbase a nuestro boletín semanal", search="Buscar",
               subscribe="Suscribirse", login="Iniciar sesión", cart="Carrito", reply="Inicie sesión para responder", about="Sobre este blog",
               back="Volver arriba", categories="Categorías", via="Este artículo se publicó primero en"),
    "it": dict(nav=["Home", "Notizie", "Territorio", "Economia", "Cultura", "Sport", "Meteo", "Contatti"],
               cookie="Utilizziamo i cookie per migliorare la tua esperienza. Continuando la navigazione accetti il loro utilizzo.",
               accept="Accetta tutti", reject="Impostazioni", related="Articoli correlati", most_read="I più letti",
               share="Condividi questo articolo", legal=["Privacy", "Termini di utilizzo", "Note legali", "Accessibilità", "Gestione cookie"],
               rights="Tutti i diritti riservati.", newsletter="Iscriviti alla nostra newsletter settimanale", search="Cerca",
               subscribe="Abbonati", login="Accedi", cart="Carrello", reply="Accedi per rispondere", about="Chi scrive questo blog",
               back="Torna su", categories="Categorie", via="Questo articolo è apparso prima su"),
    "pt": dict(nav=["Início", "Notícias", "Região", "Economia", "Cultura", "Desporto", "Tempo", "Contactos"],
               cookie="Utilizamos cookies para melhorar a sua experiência. Ao continuar a navegar, aceita a sua utilização.",
               accept="Aceitar todos", reject="Definições", related="Artigos relacionados", most_read="Mais lidos",
               share="Partilhar este artigo", legal=["Privacidade", "Termos de utilização", "Ficha técnica", "Acessibilidade", "Definições de cookies"],
               rights="Todos os direitos reservados.", newsletter="Subscreva a nossa newsletter semanal", search="Pesquisar",
               subscribe="Assinar", login="Entrar", cart="Carrinho", reply="Inicie sessão para responder", about="Sobre este blogue",
               back="Voltar ao topo", categories="Categorias", via="Este artigo foi publicado originalmente em"),
    "zh": dict(nav=["首页", "新闻", "本地", "财经", "文化", "体育", "天气", "联系我们"],
               cookie="本网站使用Cookie来改善您的浏览体验。继续浏览即表示您同意我们使用Cookie。",
               accept="全部接受", reject="设置", related="相关文章", most_read="热门阅读",
               share="分享本文", legal=["隐私政策", "使用条款", "关于我们", "无障碍服务", "Cookie设置"],
               rights="版权所有。", newsletter="订阅我们的每周简报", search="搜索",
               subscribe="订阅", login="登录", cart="购物车", reply="登录后回复", about="关于本博客",
               back="返回顶部", categories="分类", via="本文首发于"),
    "ja": dict(nav=["ホーム", "ニュース", "地域", "経済", "文化", "スポーツ", "天気", "お問い合わせ"],
               cookie="当サイトではサービス向上のためにクッキーを使用しています。閲覧を続けることでクッキーの使用に同意したものとみなします。",
               accept="すべて許可", reject="設定", related="関連記事", most_read="よく読まれている記事",
               share="この記事を共有", legal=["プライバシーポリシー", "利用規約", "運営会社", "アクセシビリティ", "クッキー設定"],
               rights="無断転載を禁じます。", newsletter="週刊ニュースレターに登録する", search="検索",
               subscribe="購読する", login="ログイン", cart="カート", reply="ログインして返信", about="このブログについて",
               back="ページの先頭へ", categories="カテゴリー", via="この記事の初出は"),
}


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


SITES: list[Site] = [
    Site("www.riverside-gazette.example", "Riverside Gazette", "en", "news"),
    Site("www.northvale-herald.example", "Northvale Herald", "en", "news"),
    Site("news.harbourtown.example", "Harbourtown News", "en", "news"),
    Site("www.greenlane-journal.example", "Greenlane Journal", "en", "blog"),
    Site("notes.millbrook.example", "Millbrook Notes", "en", "blog"),
    Site("www.council-of-eastmoor.example", "Eastmoor District Council", "en", "gov"),
    Site("www.westfield-county.example", "Westfield County", "en", "gov"),
    Site("shop.oakandthistle.example", "Oak & Thistle Stories", "en", "shop"),
    Site("forum.townsquare.example", "Town Square Forum", "en", "forum"),
    Site("www.lakeside-weekly.example", "Lakeside Weekly", "en", "news", "utf-8", "meta"),
    Site("www.talblatt.example", "Talblatt", "de", "news", "windows-1252", "header"),
    Site("www.nordstadt-kurier.example", "Nordstadt Kurier", "de", "news"),
    Site("blog.gartenzeit.example", "Gartenzeit", "de", "blog"),
    Site("www.gemeinde-lindenau.example", "Gemeinde Lindenau", "de", "gov"),
    Site("forum.stammtisch.example", "Stammtisch Forum", "de", "forum"),
    Site("www.le-petit-riverain.example", "Le Petit Riverain", "fr", "news", "iso-8859-15", "meta"),
    Site("www.echo-des-vallees.example", "L'Écho des vallées", "fr", "news"),
    Site("carnet.lescales.example", "Carnet d'escales", "fr", "blog"),
    Site("www.mairie-saint-aubin.example", "Mairie de Saint-Aubin", "fr", "gov"),
    Site("www.diario-del-valle.example", "Diario del Valle", "es", "news", "iso-8859-1", "header"),
    Site("www.la-voz-del-puerto.example", "La Voz del Puerto", "es", "news"),
    Site("blog.cuadernodeviaje.example", "Cuaderno de viaje", "es", "blog"),
    Site("www.ayto-villanueva.example", "Ayuntamiento de Villanueva", "es", "gov"),
    Site("www.gazzetta-del-borgo.example", "Gazzetta del Borgo", "it", "news"),
    Site("blog.taccuino.example", "Il Taccuino", "it", "blog"),
    Site("www.comune-di-valfiore.example", "Comune di Valfiore", "it", "gov"),
    Site("www.jornal-da-ribeira.example", "Jornal da Ribeira", "pt", "news"),
    Site("blog.caderno-azul.example", "Caderno Azul", "pt", "blog"),
    Site("www.cm-vila-nova.example", "Câmara Municipal de Vila Nova", "pt", "gov"),
    Site("www.hexi-ribao.example", "河西日报", "zh", "news", "gbk", "none"),
    Site("www.chengshi-zaobao.example", "城市早报", "zh", "news"),
    Site("bbs.jiefang-luntan.example", "街坊论坛", "zh", "forum"),
    Site("www.minato-shimbun.example", "みなと新聞", "ja", "news", "shift_jis", "meta"),
    Site("www.machi-times.example", "まちタイムス", "ja", "news"),
    Site("blog.sanpo-nikki.example", "散歩日記", "ja", "blog"),
]

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
    import json

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
    ui = UI[site.lang]
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
