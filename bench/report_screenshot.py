"""Open the stats report in headless Chromium: screenshot it and check every image loaded.

    .venv/bin/python bench/report_screenshot.py [REPORT_DIR] [--out PNG]

REPORT_DIR defaults to the sample pipeline's ``out/sample/report`` (``make stats``). Installs
Debian's ``chromium`` with apt-get when it is missing. The image check loads a copy of
``index.html`` (same directory, so the same relative image paths) with a few lines of
script that record each ``<img>``'s natural size after the page's load event, and reads
them back from ``--dump-dom``: an image that did not load has width 0. Exit status 1 when
any image failed. No network is used: the page must be self-contained.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var out = [];
  document.querySelectorAll('img').forEach(function (img) {
    out.push(img.getAttribute('src') + '=' + (img.complete ? img.naturalWidth + 'x' + img.naturalHeight : 'pending'));
  });
  var pre = document.createElement('pre'); pre.id = 'imgcheck'; pre.textContent = out.join(';');
  document.body.appendChild(pre);
});
</script>"""

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--disable-dev-shm-usage", "--allow-file-access-from-files", "--virtual-time-budget=10000"]


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    print("chromium not found: installing Debian's chromium (apt-get)...", flush=True)
    env_apt = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    if subprocess.call(env_apt) != 0:
        subprocess.check_call(["apt-get", "update"])
        subprocess.check_call(env_apt)
    path = shutil.which("chromium")
    if not path:
        sys.exit("chromium is still not on PATH after apt-get install")
    return path


def check_images(chromium: str, report_dir: Path, page_name: str = "index.html") -> dict[str, str]:
    """src -> 'WxH' (or '0x0' / 'pending' when it did not load) for the page ``page_name``
    (tests/test_report_card.py checks the report card's ``report.html`` with it)."""
    page = (report_dir / page_name).read_text(encoding="utf-8")
    probe = report_dir / ".imgcheck.html"
    probe.write_text(page.replace("</body>", CHECK_SCRIPT + "</body>"), encoding="utf-8")
    try:
        dom = subprocess.run([chromium, *FLAGS, "--dump-dom", probe.resolve().as_uri()],
                             capture_output=True, text=True, timeout=120).stdout
    finally:
        probe.unlink(missing_ok=True)
    m = re.search(r'<pre id="imgcheck">([^<]*)</pre>', dom)
    if not m:
        sys.exit("the check script did not run: no result in chromium's DOM dump")
    return dict(item.rsplit("=", 1) for item in m.group(1).split(";") if item)


def screenshot(chromium: str, report_dir: Path, out: Path, size: str = "1200,3600") -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([chromium, *FLAGS, f"--window-size={size}", f"--screenshot={out.resolve()}",
                    (report_dir / "index.html").resolve().as_uri()],
                   capture_output=True, text=True, timeout=120, check=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("report_dir", nargs="?", default="out/sample/report")
    p.add_argument("--out", default=None, help="screenshot path (default REPORT_DIR/screenshot.png)")
    args = p.parse_args(argv)
    report_dir = Path(args.report_dir)
    if not (report_dir / "index.html").exists():
        print(f"skipped: no report at {report_dir}/index.html; run `make stats` (or `corpus stats "
              f"OUTPUT_DIR`) first")
        return 0
    chromium = find_chromium()
    version = subprocess.run([chromium, "--version"], capture_output=True, text=True).stdout.strip()
    images = check_images(chromium, report_dir)
    expected = re.findall(r"<img src='([^']+)'", (report_dir / "index.html").read_text(encoding="utf-8"))
    out = Path(args.out) if args.out else report_dir / "screenshot.png"
    screenshot(chromium, report_dir, out)
    bad = [src for src in expected if not re.fullmatch(r"[1-9]\d*x[1-9]\d*", images.get(src, ""))]
    print(f"{version}: {len(expected)} image(s) in the page, "
          f"{len(expected) - len(bad)} loaded: " + ", ".join(f"{k} {v}" for k, v in images.items()))
    print(f"screenshot: {out} ({out.stat().st_size:,} bytes)")
    if bad:
        print(f"FAILED to load: {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
