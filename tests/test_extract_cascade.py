"""The extraction cascade (``stages.extract.prescreen``): pages surely in a language the
filter stage drops skip trafilatura and are rejected as ``prescreen_lang``; what the
filter keeps does not change."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from contract.layout import REJECTED
from corpus.cli import main as cli_main
from corpus.core.config import ConfigError, load_pipeline
from corpus.core.parts import read_table
from corpus.core.runner import run_stage
from corpus.stages.extract import prescreen
from corpus.stages.extract.stage import ExtractStage, settings
from corpus.stages.filter.stage import FilterStage

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def small_sample(tmp_path_factory) -> Path:
    """The embedded sample crawl, 400 pages (about half English, the rest in 7 languages)."""
    from corpus.sample import generate_sample

    out = tmp_path_factory.mktemp("cascade-sample")
    generate_sample(out, seed=0, pages=400)
    return out


def sample_config(out: Path, crawl: Path, languages, **extract) -> dict:
    config = load_pipeline(ROOT / "pipelines" / "sample.yaml", inputs=[str(crawl / "*.warc.gz")],
                           output=str(out), workers=1)
    config.pop("sample", None)
    config["stages"]["filter"]["language"]["languages"] = languages
    config["stages"]["extract"].update(extract)
    return config


def run_both(config: dict) -> tuple[dict, dict]:
    ex = run_stage(ExtractStage(config), show_progress=False)
    return ex, run_stage(FilterStage(config), show_progress=False)


def balanced(manifest: dict) -> bool:
    c = manifest["counts"]
    return c["in"] == c["kept"] + sum(c["rejected"].values()) + sum(c["errors"].values())


def test_cascade_keeps_what_the_filter_keeps(small_sample, tmp_path):
    on_ex, on_f = run_both(sample_config(tmp_path / "on", small_sample, ["en"]))
    off_ex, off_f = run_both(sample_config(tmp_path / "off", small_sample, ["en"], prescreen="off"))
    kept_on = set(read_table(tmp_path / "on" / "filter", columns=["id"]).column("id").to_pylist())
    kept_off = set(read_table(tmp_path / "off" / "filter", columns=["id"]).column("id").to_pylist())
    assert kept_off and kept_on == kept_off
    # the cascade ran (auto: the filter names its languages) and skipped the foreign pages
    assert off_ex["extract"]["prescreen"] is None
    assert on_ex["extract"]["prescreen"]["languages"] == ["en"]
    skipped = on_ex["counts"]["rejected"]["prescreen_lang"]
    assert skipped >= 0.3 * off_ex["counts"]["kept"]
    assert on_ex["counts"]["kept"] == off_ex["counts"]["kept"] - skipped
    assert balanced(on_ex) and balanced(off_ex) and on_ex["counts"]["in"] == off_ex["counts"]["in"]
    rows = [r for r in read_table(tmp_path / "on" / "extract" / REJECTED).to_pylist()
            if r["reason"] == "prescreen_lang"]
    assert len(rows) == skipped
    assert all(r["reason_detail"] != "en" and r["reason_value"] >= 0.5 and r["url"] for r in rows)
    # every skipped page is one the filter drops by language without the cascade
    dropped = {r["id"]: r for r in read_table(tmp_path / "off" / "filter" / REJECTED).to_pylist()}
    assert all(dropped[r["id"]]["reason"] == "lang" for r in rows)


def _doc(lang_text: str) -> str:
    return f"<html><head><title>t</title></head><body><nav>Home</nav><p>{lang_text}</p></body></html>"


def test_prescreen_verdicts_on_crafted_pages():
    screen = prescreen.Prescreen(frozenset(["en"]), 0.5, None, 2000)
    de = _doc("Der Bundestag hat am Donnerstag nach langer Debatte ein neues Gesetz über die "
              "Förderung erneuerbarer Energien beschlossen, das im kommenden Jahr in Kraft tritt.")
    en = _doc("The city council approved the new budget on Thursday after a long debate about "
              "public transport, schools and the repair of several old bridges.")
    empty = "<html><body><script>var x = 1;</script></body></html>"
    broken = "\x00<<<>>>"
    out = screen.verdicts([de, en, empty, broken])
    assert out[0] is not None and out[0][0] == "de" and out[0][1] >= 0.5
    assert out[1:] == [None, None, None]  # kept language, no text, nothing usable: trafilatura decides


def _config(languages="all", mode="drop", enabled=True) -> dict:
    return {"stages": {"filter": {"mode": mode, "language": {"languages": languages, "enabled": enabled}}}}


def test_auto_follows_the_filter_language_rule():
    assert prescreen.plan(_config("all"), "auto", 0.5) is None
    assert prescreen.plan(_config(["en"], mode="annotate"), "auto", 0.5) is None
    assert prescreen.plan(_config(["en"], enabled=False), "auto", 0.5) is None
    assert prescreen.plan(_config(["en"]), "off", 0.5) is None
    assert prescreen.plan(_config("de"), "auto", 0.5).languages == {"de"}
    assert prescreen.plan(_config(["en"], mode="annotate"), "on", 0.5).languages == {"en"}
    assert prescreen.plan({}, "auto", 0.5) is None
    with pytest.raises(ConfigError, match="stages.extract.prescreen"):
        prescreen.plan(_config("all"), "on", 0.5)


def test_prescreen_setting_is_checked():
    assert settings({})["prescreen"] == "auto"
    assert settings({"prescreen": False})["prescreen"] == "off"  # YAML reads a bare off as false
    assert settings({"prescreen": True})["prescreen"] == "on"
    with pytest.raises(ConfigError, match="stages.extract.prescreen"):
        settings({"prescreen": "sometimes"})
    with pytest.raises(ConfigError, match="stages.extract.prescreen_threshold"):
        settings({"prescreen_threshold": 1.5})


@pytest.mark.parametrize("override, problem", [
    ("stages.extract.prescreen=sometimes", "must be auto, on or off"),
    ("stages.extract.prescreen=on", "on needs the languages to keep"),
])
def test_cli_bad_prescreen_exits_2_untouched(tmp_path, capsys, override, problem):
    out = tmp_path / "out"
    rc = cli_main(["extract", str(ROOT / "pipelines" / "sample.yaml"), "--input", str(tmp_path / "x.warc.gz"),
                   "--output", str(out), "--set", override, "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "stages.extract.prescreen" in err[0] and problem in err[0]
    assert not out.exists()


def test_yaml_off_switches_the_cascade_off(tmp_path):
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text("stages:\n  extract:\n    prescreen: off\n  filter:\n    language:\n"
                        "      languages: [en]\n")
    config = load_pipeline(pipeline, inputs=[str(tmp_path / "x.warc.gz")], output=str(tmp_path / "o"))
    assert ExtractStage(config).prescreen is None
    config["stages"]["extract"]["prescreen"] = "auto"
    assert ExtractStage(config).prescreen.languages == {"en"}


def test_lxml_rendering_when_resiliparse_is_missing():
    html = ("<html><head><style>p {color: red}</style><script>var secret = 1;</script></head>"
            "<body><p>Bonjour   tout\nle monde</p><!-- hidden --><noscript>no js</noscript></body></html>")
    text = prescreen._lxml_text(html)
    assert "Bonjour tout le monde" in text
    assert "secret" not in text and "color" not in text and "hidden" not in text and "no js" not in text
