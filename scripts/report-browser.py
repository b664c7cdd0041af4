"""Opens a simulation's report in a real headless browser (Debian's chromium), offline: the page
must load from the file alone, every chart must be drawn, and the browser's console must stay
silent. Keeps a screenshot.

    python scripts/report-browser.py kairos-sim/report.html target/report.png
"""

import html.parser
import os
import re
import shutil
import subprocess
import sys
import tempfile

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--enable-logging=stderr", "--v=0",
]


class Charts(html.parser.HTMLParser):
    """Counts the charts and the shapes drawn in each, and anything fetched from elsewhere."""

    def __init__(self):
        super().__init__()
        self.charts = []
        self.inside = 0
        self.fetched = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "svg" and "chart" in (a.get("class") or ""):
            self.charts.append(0)
            self.inside += 1
        elif self.inside and tag in ("rect", "circle", "line", "path"):
            self.charts[-1] += 1
        for name in ("src", "href"):
            value = a.get(name) or ""
            if tag in ("script", "img", "link", "iframe", "source") and re.match(r"^[a-z]+://", value):
                self.fetched.append(f"<{tag} {name}={value}>")

    def handle_endtag(self, tag):
        if tag == "svg" and self.inside:
            self.inside -= 1


def browser():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("no chromium on this machine (apt-get install chromium)")


def main():
    report, screenshot = sys.argv[1], sys.argv[2]
    url = "file://" + os.path.abspath(report)
    with tempfile.TemporaryDirectory() as profile:
        run = subprocess.run([browser(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                             capture_output=True, text=True, timeout=120)
    if run.returncode != 0:
        sys.exit(f"the browser failed to load the report: {run.stderr[-2000:]}")
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    if console:
        sys.exit("the console was not silent:\n" + "\n".join(console))
    parser = Charts()
    parser.feed(run.stdout)
    if len(parser.charts) < 8:
        sys.exit(f"expected at least 8 charts, the page has {len(parser.charts)}")
    empty = [i for i, shapes in enumerate(parser.charts) if shapes == 0]
    if empty:
        sys.exit(f"charts {empty} have nothing drawn in them")
    if parser.fetched:
        sys.exit("the report fetches from elsewhere: " + ", ".join(parser.fetched))
    os.makedirs(os.path.dirname(os.path.abspath(screenshot)), exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        shot = subprocess.run([browser(), *FLAGS, f"--user-data-dir={profile}", "--window-size=1280,3000",
                               f"--screenshot={os.path.abspath(screenshot)}", url],
                              capture_output=True, text=True, timeout=120)
    if shot.returncode != 0 or not os.path.exists(screenshot):
        sys.exit(f"no screenshot: {shot.stderr[-2000:]}")
    print(f"{report}: loaded offline in chromium, {len(parser.charts)} charts drawn "
          f"({sum(parser.charts)} shapes), console silent; screenshot {screenshot}")


if __name__ == "__main__":
    main()
