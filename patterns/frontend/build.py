"""The site as it is deployed: assets renamed after their content, index.html pointing at them.

A content-hashed name (`assets/app.3f2a9c1b7e.js`) changes whenever the file does, so the
distribution and browsers may cache it for a year: a new release is a new URL, never a stale
copy. `index.html` keeps its name and is revalidated on every load (see policies.py).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from pathlib import Path

from ..shared.props import PropError

ASSETS = "assets"
INDEX = "index.html"
HASH_LENGTH = 10
HASHED_NAME = re.compile(rf"^(?P<stem>[^.]+)\.[0-9a-f]{{{HASH_LENGTH}}}\.(?P<ext>[A-Za-z0-9]+)$")


def hashed_name(path: Path) -> str:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:HASH_LENGTH]
    return f"{path.stem}.{digest}{path.suffix}"


def build_site(source: str | Path, out: str | Path | None = None) -> Path:
    """Copy `source` (an `index.html` and an `assets/` folder) to `out` (a new temporary folder
    when None) with every asset renamed after its content and index.html's references rewritten.

    A reference in index.html to an asset that does not exist fails here, not in a browser."""
    source = Path(source)
    index = source / INDEX
    if not index.is_file() or not (source / ASSETS).is_dir():
        raise PropError("site_dir", f"{source} needs an {INDEX} and an {ASSETS}/ folder")
    target = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="refarch-site."))
    (target / ASSETS).mkdir(parents=True, exist_ok=True)
    html = index.read_text()
    for asset in sorted((source / ASSETS).iterdir()):
        if not asset.is_file():
            continue
        renamed = hashed_name(asset)
        shutil.copyfile(asset, target / ASSETS / renamed)
        html = html.replace(f'"/{ASSETS}/{asset.name}"', f'"/{ASSETS}/{renamed}"')
    for reference in re.findall(rf'"/{ASSETS}/([^"]+)"', html):
        if not HASHED_NAME.match(reference):
            raise PropError("site_dir", f"{INDEX} refers to /{ASSETS}/{reference}, which is not in {source}")
    (target / INDEX).write_text(html)
    return target
