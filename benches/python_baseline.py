#!/usr/bin/env python3
"""The baseline of issue 17, for the throughput bench (benches/throughput.rs).

A sequential probe loop in plain Python, as the issue describes it and as
an operator would first write it: urllib (`urlopen`, which opens a
connection per request), html.parser over the whole page, sqlite3 in WAL mode with synchronous=FULL and one commit per probe.
For each of the first COUNT numbers of the roster it fetches the 118.dk
search page, decides it (a result block naming the number: exposed; the
no-results block and no result block: clean; anything else: inconclusive)
and records the outcome with the page's SHA-256. Prints the probes made
and how many of them were clean.

    python_baseline.py BASE_URL ROSTER_CSV DB COUNT
"""

import csv
import hashlib
import sqlite3
import sys
import urllib.error
import urllib.request
from html.parser import HTMLParser


class Page(HTMLParser):
    """Result blocks and the no-results block, by class, and their text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.results = []
        self.no_results = False
        self.depth = 0  # inside a result block: its div depth
        self.text = []

    def handle_starttag(self, tag, attrs):
        classes = (dict(attrs).get("class") or "").split()
        if tag == "div":
            if self.depth:
                self.depth += 1
            elif "result-block" in classes:
                self.depth = 1
                self.text = []
            elif "no-results" in classes:
                self.no_results = True

    def handle_endtag(self, tag):
        if tag == "div" and self.depth:
            self.depth -= 1
            if not self.depth:
                self.results.append(" ".join(self.text))

    def handle_data(self, data):
        if self.depth:
            self.text.append(data)


def main():
    base, roster, db, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    store = sqlite3.connect(db)
    store.execute("PRAGMA journal_mode=WAL")
    store.execute("PRAGMA synchronous=FULL")
    store.execute(
        "CREATE TABLE IF NOT EXISTS probes (id INTEGER PRIMARY KEY, ref TEXT, time REAL,"
        " outcome TEXT, status INTEGER, sha256 TEXT)"
    )
    store.commit()
    probes = clean = 0
    with open(roster, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if probes >= count:
                break
            number = row["phone"].replace(" ", "")[-8:]
            url = f"{base}/search/go?what={number}&pageSize=25&page=1"
            try:
                with urllib.request.urlopen(url, timeout=10) as resp:
                    status, body = resp.status, resp.read()
            except urllib.error.HTTPError as e:
                status, body = e.code, e.read()
            page = Page()
            page.feed(body.decode("utf-8", "replace"))
            spaced = " ".join(number[i : i + 2] for i in range(0, 8, 2))
            if any(number in r.replace(" ", "") or spaced in r for r in page.results):
                outcome = "exposed"
            elif status == 200 and page.no_results and not page.results:
                outcome = "clean"
            else:
                outcome = "inconclusive"
            store.execute(
                "INSERT INTO probes (ref, time, outcome, status, sha256)"
                " VALUES (?, julianday('now'), ?, ?, ?)",
                (row["ref"], outcome, status, hashlib.sha256(body).hexdigest()),
            )
            store.commit()
            probes += 1
            clean += outcome == "clean"
    print(probes, clean)


if __name__ == "__main__":
    main()
