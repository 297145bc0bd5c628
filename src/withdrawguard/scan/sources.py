"""Where history comes from: JSON Lines and CSV files, plain or gzip, one by one or a
folder; the Kafka input topics are in `kafka_input`.

A source yields `Record`s: the raw payload with where it came from. Nothing is decoded
here; the driver validates every record with the engine's decoder.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, cast

from withdrawguard.scan.csvmap import CsvMapping, MappingError

SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".gz")
_GZIP_MAGIC = b"\x1f\x8b"
_JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")


@dataclass(frozen=True, slots=True)
class Record:
    """One input line or message, as read."""

    source: str
    line: int
    """1-based line number in a file (the row's last line for CSV); offset in Kafka."""
    event_type: str | None
    """The type its topic carries; None: the payload's own `type` decides."""
    raw: bytes
    """The bytes read (a CSV row is joined again with its delimiter)."""
    obj: dict[str, Any] | None = None
    """The object already built from a CSV row; None for JSON payloads."""
    error: str | None = None
    """Set when the record could not even be read (too long, a header problem)."""


class Source(Protocol):
    names: list[str]
    """What was read, for the summary: file paths or topic names."""
    total: int | None
    """Size of the whole input in `position()` units (bytes, messages), if known."""

    def open(self) -> None:
        """Get ready to read; afterwards `total` is known (if it can be)."""

    def position(self) -> int: ...

    def __iter__(self) -> Iterator[Record]: ...


class SourceError(Exception):
    """The input cannot be read at all (a path that does not exist, no broker)."""


def discover(paths: Sequence[Path], exclude: Sequence[Path] = ()) -> list[Path]:
    """Files named by `paths`; folders are searched recursively for input files."""
    skip = [p.resolve() for p in exclude]
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = (f for f in path.rglob("*") if f.is_file() and f.name.endswith(SUFFIXES))
            files += sorted(
                f for f in found if not any(f.resolve().is_relative_to(s) for s in skip)
            )
        elif path.is_file():
            files.append(path)
        else:
            raise SourceError(f"no such file or folder: {path}")
    if not files:
        raise SourceError(f"no input files ({', '.join(SUFFIXES)}) in {', '.join(map(str, paths))}")
    return files


class FileSource:
    """JSON Lines and CSV files, each plain or gzip (told by its first bytes)."""

    def __init__(self, files: Sequence[Path], mapping: CsvMapping, max_bytes: int) -> None:
        self.files = list(files)
        self.names = [str(f) for f in self.files]
        self.total: int | None = sum(f.stat().st_size for f in self.files)
        self.mapping = mapping
        self.max_bytes = max_bytes
        self._done = 0
        self._current: IO[bytes] | None = None

    def open(self) -> None:
        """Nothing to do: the files were found and sized already."""

    def position(self) -> int:
        """Bytes read so far (compressed bytes for gzip files)."""
        current = self._current
        return self._done + (current.tell() if current is not None else 0)

    def __iter__(self) -> Iterator[Record]:
        for path in self.files:
            with path.open("rb") as raw:
                self._current = raw
                stream = _decompressed(raw)
                try:
                    if _is_csv(path, stream):
                        yield from self._csv(str(path), stream)
                    else:
                        yield from self._jsonl(str(path), stream)
                finally:
                    if stream is not raw:
                        stream.close()  # a GzipFile leaves the file it reads open
                self._done += path.stat().st_size
                self._current = None

    def _jsonl(self, name: str, stream: IO[bytes]) -> Iterator[Record]:
        cap = self.max_bytes + 2  # room for a line ending after a payload at the limit
        number = 0
        while line := stream.readline(cap):
            number += 1
            if len(line) == cap and not line.endswith(b"\n"):
                while (rest := stream.readline(cap)) and not rest.endswith(b"\n"):
                    pass
                error = f"line is longer than the limit of {self.max_bytes} bytes"
                yield Record(name, number, None, line[:1024], error=error)
                continue
            line = line.strip()
            if line:
                yield Record(name, number, None, line)

    def _csv(self, name: str, stream: IO[bytes]) -> Iterator[Record]:
        m = self.mapping
        text = io.TextIOWrapper(stream, encoding=m.encoding, errors="replace", newline="")
        try:
            yield from self._rows(name, csv.reader(text, delimiter=m.delimiter))
        finally:
            text.detach()  # the caller closes the stream

    def _rows(self, name: str, reader: Any) -> Iterator[Record]:
        m = self.mapping
        try:
            header = next(reader)
            binding = m.bind([h.strip() for h in header])
        except StopIteration:
            return
        except (MappingError, csv.Error) as exc:
            yield Record(name, 1, None, b"", error=f"file skipped: {exc}")
            return
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Record(name, reader.line_num, None, b"", error=f"not valid CSV: {exc}")
                continue
            if not any(c.strip() for c in cells):
                continue
            raw = m.delimiter.join(cells).encode("utf-8", "replace")
            yield Record(name, reader.line_num, None, raw, m.row(cells, binding))


def _decompressed(raw: IO[bytes]) -> IO[bytes]:
    magic = raw.read(2)
    raw.seek(0)
    if magic == _GZIP_MAGIC:
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    return raw


def _is_csv(path: Path, stream: IO[bytes]) -> bool:
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return True
    if name.endswith(_JSON_SUFFIXES):
        return False
    head = stream.peek(256) if isinstance(stream, io.BufferedReader | gzip.GzipFile) else b""
    return not head.lstrip().startswith(b"{")
