"""Reading long-format CSV (or CSV.gz) files in chunks, with true file line numbers for every row
and a byte-level progress count, so validation can say exactly where a bad row is."""

from __future__ import annotations

import gzip
import io
import re
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

import numpy as np
import pandas as pd

from trading.errors import ImportRejected

ProgressCallback = Callable[[int], None]
"""Called with the number of bytes of the file (as stored, compressed or not) read so far."""

_SKIPPED_LINE = re.compile(r"Skipping line (\d+): expected \d+ fields, saw (\d+)")

# What a damaged file raises while it is read: a corrupt or truncated gzip stream (zlib.error,
# EOFError, gzip.BadGzipFile, an OSError) or a CSV pandas cannot tokenise.
_READ_ERRORS = (OSError, EOFError, zlib.error, pd.errors.ParserError)
# Bytes that are not UTF-8 become lone surrogates (U+DC80..U+DCFF, one per byte) instead of
# stopping the read, so the row holding one is reported on its true line and skipped like any bad
# row (bar_validation finds them with UNDECODABLE).
_DECODE_ERRORS = "surrogateescape"
UNDECODABLE = "[\udc80-\udcff]"

# A sentinel column past the header's: a line with too many fields fills it (and is reported)
# instead of silently shifting pandas' columns or becoming an index.
EXTRA_FIELDS = "__extra_fields__"


@dataclass(frozen=True)
class MalformedLine:
    line: int
    reason: str


@dataclass(frozen=True)
class CsvChunk:
    frame: pd.DataFrame  # every header column as str ('' when empty), plus EXTRA_FIELDS
    lines: np.ndarray  # 1-based line number in the file of each row of `frame`


def _open_binary(path: Path) -> tuple[IO[bytes], IO[bytes]]:
    """The stream to parse and the raw file under it (whose position measures progress)."""
    raw = path.open("rb")
    magic = raw.read(2)
    raw.seek(0)
    # Decide by content, not by name: a .csv that is really gzip (or the reverse) still imports.
    if magic == b"\x1f\x8b":
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb")), raw
    return raw, raw


def read_header(path: Path) -> list[str]:
    """The header's column names, stripped and lower-cased."""
    if not path.is_file():
        raise ImportRejected(f"{path}: no such file")
    try:
        stream, raw = _open_binary(path)
    except OSError as exc:
        raise ImportRejected(f"{path}: cannot open the file ({exc.strerror or exc})") from exc
    try:
        with io.TextIOWrapper(stream, encoding="utf-8-sig", errors=_DECODE_ERRORS, newline="") as text:
            first = text.readline()
    except _READ_ERRORS as exc:
        raise ImportRejected(f"{path}:1: cannot read the header ({_describe(exc)})") from exc
    finally:
        raw.close()
    if not first.strip():
        raise ImportRejected(f"{path}:1: the file is empty; expected a header line")
    undecodable = re.search(UNDECODABLE, first)
    if undecodable:
        byte = ord(undecodable.group()) - 0xDC00
        raise ImportRejected(f"{path}:1: the header is not valid UTF-8 (byte 0x{byte:02x})")
    return [name.strip().lower() for name in first.rstrip("\r\n").split(",")]


def _describe(exc: BaseException) -> str:
    """One line saying what went wrong while reading."""
    gzip_damage = isinstance(exc, zlib.error | EOFError | gzip.BadGzipFile)
    message = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"corrupt or truncated gzip data: {message}" if gzip_damage else message


def read_chunks(
    path: Path,
    columns: list[str],
    chunk_rows: int,
    malformed: list[MalformedLine],
    on_progress: ProgressCallback | None = None,
) -> Iterator[CsvChunk]:
    """Yield the file's rows (after the header, whose names are `columns`) as string frames.

    A line one field too long fills EXTRA_FIELDS; longer ones are skipped by the parser and
    appended to `malformed` with their line numbers.
    """
    stream, raw = _open_binary(path)
    skipped: list[int] = []
    last_line = 1  # the header
    try:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors=_DECODE_ERRORS, newline="")
        reader = pd.read_csv(
            text,
            encoding_errors=_DECODE_ERRORS,  # pandas re-encodes the text it is handed
            names=[*columns, EXTRA_FIELDS],
            header=None,
            skiprows=1,  # the header, already read and checked by read_header
            dtype=str,
            na_filter=False,
            keep_default_na=False,
            skip_blank_lines=False,  # a blank line is a bad row with a line number, not nothing
            skipinitialspace=True,
            on_bad_lines="warn",
            chunksize=chunk_rows,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            for frame in reader:
                for warning in caught:
                    for match in _SKIPPED_LINE.finditer(str(warning.message)):
                        skipped.append(int(match.group(1)))
                        reason = f"too many fields: the header has {len(columns)}, this line has {match.group(2)}"
                        malformed.append(MalformedLine(int(match.group(1)), reason))
                caught.clear()
                chunk = CsvChunk(frame=frame, lines=_true_lines(frame.index.to_numpy(), sorted(skipped)))
                last_line = max(last_line, int(chunk.lines.max(initial=last_line)), *skipped)
                yield chunk
                if on_progress is not None:
                    on_progress(raw.tell())
    except _READ_ERRORS as exc:
        # pandas reads ahead, so only the last line delivered whole is known, not the damaged one.
        raise ImportRejected(f"{path}: unreadable CSV after line {last_line} ({_describe(exc)})") from exc
    finally:
        raw.close()


def _true_lines(row_positions: np.ndarray, skipped_lines: list[int]) -> np.ndarray:
    # Row k is on line k + 2 (after the header) plus one for every skipped line before it.
    lines = row_positions.astype(np.int64) + 2
    for skipped in skipped_lines:
        lines[lines >= skipped] += 1
    return lines
