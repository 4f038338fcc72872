"""Two results folders, file by file: the same file names (logs and benchmarks aside), and every table
(``.tsv``, ``.tsv.gz``, ``.txt``, ``.mtx``) byte-identical once decompressed.

usage: python benchmarks/compare_results.py <results> <results>
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

TABLES = (".tsv", ".gz", ".txt", ".mtx")


def files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*")
            if p.is_file() and not {"benchmarks", "logs"} & set(p.relative_to(root).parts)}


def content(path: Path) -> bytes:
    return gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()


def main(a: Path, b: Path) -> int:
    in_a, in_b = files(a), files(b)
    for side, only in (("only in the first", in_a - in_b), ("only in the second", in_b - in_a)):
        for rel in sorted(only):
            print(f"{side}: {rel}")
    tables = sorted(rel for rel in in_a & in_b if rel.suffix in TABLES)
    different = [rel for rel in tables if content(a / rel) != content(b / rel)]
    for rel in different:
        print(f"different: {rel}")
    print(f"{len(tables) - len(different)} identical, {len(different)} different")
    return int(bool(different or in_a ^ in_b))


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
