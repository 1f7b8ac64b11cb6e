"""Copy the front-end files the web UI needs from node_modules into webui/static/vendor/.

Run `python -m webui.assets` after `npm install`. GOV.UK Frontend's stylesheet is
rewritten to load its images from beside it, and to use Arial instead of the GDS
Transport font, which is licensed for GOV.UK services only.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = Path(__file__).resolve().parent / "static" / "vendor"
GOVUK = ROOT / "node_modules" / "govuk-frontend" / "dist" / "govuk"
BPMN = ROOT / "node_modules" / "bpmn-js" / "dist"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"

COPIES: list[tuple[Path, str]] = [
    (GOVUK / "govuk-frontend.min.js", "govuk/govuk-frontend.min.js"),
    (GOVUK / "assets" / "images", "govuk/assets/images"),
    (GOVUK / "assets" / "manifest.json", "govuk/assets/manifest.json"),
    (BPMN / "bpmn-navigated-viewer.production.min.js",
     "bpmn-js/bpmn-navigated-viewer.production.min.js"),
    (BPMN / "bpmn-modeler.production.min.js", "bpmn-js/bpmn-modeler.production.min.js"),
    (BPMN / "assets" / "diagram-js.css", "bpmn-js/diagram-js.css"),
    (BPMN / "assets" / "bpmn-js.css", "bpmn-js/bpmn-js.css"),
    (BPMN / "assets" / "bpmn-font", "bpmn-js/bpmn-font"),
]


def govuk_css(css: str) -> str:
    """Point asset URLs at the copied assets and drop the GOV.UK-only typeface."""
    css = re.sub(r"@font-face\{[^}]*\}", "", css)
    css = css.replace('"GDS Transport",', "").replace("GDS Transport,", "")
    css = css.replace("url(/assets/", "url(assets/")
    return re.sub(r"/\*# sourceMappingURL=.*?\*/", "", css)


def build(dest: Path = VENDOR, with_axe: bool = True) -> list[Path]:
    """Copy everything into `dest`; return the files written."""
    missing = [src for src, _ in COPIES if not src.exists()]
    if missing:
        raise SystemExit(f"Run `npm install` first: missing {', '.join(map(str, missing))}")
    if dest.exists():
        shutil.rmtree(dest)
    written: list[Path] = []
    for src, rel in COPIES:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, target)
            written.extend(p for p in target.rglob("*") if p.is_file())
        else:
            shutil.copyfile(src, target)
            written.append(target)
    css = dest / "govuk" / "govuk-frontend.min.css"
    css.write_text(govuk_css((GOVUK / "govuk-frontend.min.css").read_text(encoding="utf-8")),
                   encoding="utf-8")
    written.append(css)
    if with_axe and AXE.exists():  # only for the accessibility checks in the browser tests
        shutil.copyfile(AXE, dest / "axe.min.js")
        written.append(dest / "axe.min.js")
    return written


def main() -> int:
    files = build()
    print(f"Copied {len(files)} files into {VENDOR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
