"""Reading a manifest file: its text, its CSV or JSONL rows as dicts, and `;`-separated cells."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...errors import ConfigError, InputError
from ...storage import Url, read_bytes
from .job import RowError

Rows = Iterator[tuple[int, dict[str, Any] | RowError]]  # (line, the row's non-empty cells or a problem)


def read_text(path: Path | Url) -> str:
    if isinstance(path, Url):
        try:
            data = read_bytes(path)
        except InputError as exc:
            raise ConfigError(f"manifest {exc}") from None
    else:
        data = _read_local(path)
    try:
        return data.decode("utf-8-sig")  # a BOM is dropped
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"manifest {path} is not UTF-8 text (byte {exc.start}: {data[exc.start : exc.start + 1]!r}); "
            "save it as UTF-8"
        ) from None


def _read_local(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"manifest {path} not found") from None
    except IsADirectoryError:
        raise ConfigError(
            f"manifest {path} is a directory (for a photo folder use `stylebatch folder`)"
        ) from None


def is_jsonl(path: Path, text: str) -> bool:
    return path.suffix.lower() in (".jsonl", ".ndjson") or (
        path.suffix.lower() != ".csv" and text.lstrip().startswith("{")
    )


def csv_header(text: str) -> list[str]:
    """The CSV header's column names, lower-cased."""
    return [h.strip().lower() for h in next(csv.reader(io.StringIO(text, newline="")), [])]


def csv_rows(path: Path, text: str) -> Rows:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        return
    header = [h.strip().lower() for h in header]
    line = reader.line_num
    for values in reader:
        start, line = line + 1, reader.line_num
        if not any(v.strip() for v in values):
            yield start, {}
            continue
        if len(values) > len(header):
            yield start, RowError(str(path), start, "row", f"{len(values)} fields for {len(header)} columns")
            continue
        row = {k: v.strip() for k, v in zip(header, values, strict=False) if k}
        yield start, {k: v for k, v in row.items() if v != ""}


def jsonl_rows(path: Path, text: str) -> Rows:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            yield number, {}
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, RowError(str(path), number, "row", f"not valid JSON ({exc.msg})")
            continue
        if not isinstance(row, dict):
            yield number, RowError(str(path), number, "row", "expected a JSON object")
            continue
        yield number, {k: v for k, v in row.items() if v is not None and v != ""}


def split(value: Any, sep: str = ";") -> list[Any]:
    """A CSV cell's `;`-separated list; a part in single or double quotes is taken whole
    (`'my;style.jpg';b.jpg`), so a file name may contain the separator."""
    if isinstance(value, list):
        return value
    parts: list[str] = []
    rest = str(value).strip()
    while rest:
        quote = rest[0]
        if quote in "'\"" and (end := rest.find(quote + sep, 1)) != -1:
            parts.append(rest[1:end])
            rest = rest[end + 2 :].strip()
        elif quote in "'\"" and len(rest) > 1 and rest.endswith(quote):
            parts.append(rest[1:-1])
            rest = ""
        else:
            part, _, rest = rest.partition(sep)
            parts.append(part.strip())
            rest = rest.strip()
    return [p for p in parts if p]


def join(values: list[str], sep: str = ";") -> str:
    """The inverse of `split`: names containing the separator (or starting with a quote) quoted."""
    out = []
    for v in values:
        if sep in v or v[:1] in "'\"":
            quote = "'" if "'" + sep not in v and not v.endswith("'") else '"'
            v = f"{quote}{v}{quote}"
        out.append(v)
    return sep.join(out)
