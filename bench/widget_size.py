"""Print the raw and gzip (level 9) sizes of the widget bundle and of its sources.

Exits 1 when static/widget/signet.js is over the budget of 15 KiB gzipped: it is all the
JavaScript a customer's page downloads.

    python bench/widget_size.py
"""
import gzip
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDGET = ROOT / "static" / "widget"
BUDGET = 15 * 1024


def sizes(data: bytes) -> tuple[int, int]:
    return len(data), len(gzip.compress(data, compresslevel=9, mtime=0))


def main() -> int:
    bundle = (WIDGET / "signet.js").read_bytes()
    rows = [("static/widget/signet.js", *sizes(bundle))]
    sources = sorted((WIDGET / "src").glob("*.js"))
    for path in sources:
        rows.append((f"  src/{path.name}", *sizes(path.read_bytes())))
    rows.append(("src/*.js total (concatenated)", *sizes(b"".join(p.read_bytes() for p in sources))))
    print(f"{'file':<34}{'raw':>9}{'gzip -9':>10}")
    for name, raw, gz in rows:
        print(f"{name:<34}{raw:>9}{gz:>10}")
    gz = rows[0][2]
    verdict = "ok" if gz <= BUDGET else "OVER BUDGET"
    print(f"budget: signet.js gzip {gz} / {BUDGET} bytes ({gz / BUDGET:.0%}) {verdict}")
    return 0 if gz <= BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
