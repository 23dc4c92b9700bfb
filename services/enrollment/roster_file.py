"""A roster file (CSV or XLSX) → validated participants and a per-row error report. No I/O.

Columns (header row, any order, case-insensitive; Indonesian names accepted): `nip`,
`nama`/`name`, `jenjang`, `unit_kerja`/`unit kerja`, optional `email`. Jenjang may be
written as on paper ("Ahli Pertama") or as in the contract (`ahli_pertama`). CSV is UTF-8
(a BOM from Excel is fine), separated by commas or semicolons. Row numbers are the
spreadsheet's: the header is row 1.
"""

import csv
import io
from dataclasses import dataclass, field

from pydantic import ValidationError

from shared.contract.events import EnrolledData
from shared.contract.programs import Programs

MAX_BYTES = 2 * 1024 * 1024  # the real roster (1,248 rows) is about 120 kB
MAX_ROWS = 20_000
MAX_COLUMNS = 64  # the roster has five; anything right of column BL is not read
# Unpacked, a 20,000-row workbook is about 8 MB; a few kilobytes of zip can unpack to gigabytes.
MAX_XLSX_UNPACKED_BYTES = 24 * 1024 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
COLUMNS = {"nip": "nip", "nama": "name", "name": "name", "jenjang": "jenjang", "unit_kerja": "unit_kerja",
           "unit kerja": "unit_kerja", "email": "email", "e-mail": "email"}  # fmt: skip
REQUIRED = ("nip", "name", "jenjang", "unit_kerja")


class UnreadableFile(ValueError):
    """The file as a whole cannot be read as a roster; nothing in it is used."""

    status_code = 400


class TooLarge(UnreadableFile):
    """The file is (or declares, or unpacks to) more than the limits allow."""

    status_code = 413


@dataclass(frozen=True)
class RowError:
    row: int
    field: str | None
    message: str


@dataclass
class RosterFile:
    rows: int = 0
    accepted: list[tuple[int, EnrolledData]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def read_table(content: bytes, content_type: str) -> list[list[str]]:
    if len(content) > MAX_BYTES:
        raise TooLarge(f"file of {len(content)} bytes exceeds the limit of {MAX_BYTES}")
    if content_type.split(";")[0].strip().lower() == XLSX:
        return _read_xlsx(content)
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UnreadableFile("the file is not UTF-8 text (save the CSV as UTF-8)") from None
    if "\x00" in text:
        raise UnreadableFile("the file contains NUL characters: not a CSV")
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    try:
        return list(csv.reader(io.StringIO(text), delimiter=delimiter, strict=True))
    except csv.Error as e:
        raise UnreadableFile(f"malformed CSV: {e}") from None


def _read_xlsx(content: bytes) -> list[list[str]]:
    """Row by row, never past the limits. openpyxl pads every row to the width the sheet's
    <dimension> declares (and fills gaps in row numbers with empty rows), so a small file that
    declares A1:XFD1048576 or has a cell at row 1,048,576 would otherwise cost gigabytes."""
    from zipfile import BadZipFile, ZipFile

    from openpyxl import load_workbook

    try:
        unpacked = sum(member.file_size for member in ZipFile(io.BytesIO(content)).infolist())
        if unpacked > MAX_XLSX_UNPACKED_BYTES:  # zipfile never inflates past a member's stated size
            raise TooLarge(f"the workbook unpacks to {unpacked} bytes, over the limit of {MAX_XLSX_UNPACKED_BYTES}")
        sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).worksheets[0]
        # Declared by the file, not measured: only a reason to refuse early, never a size to allocate.
        if (sheet.max_row or 0) > MAX_ROWS + 1 or (sheet.max_column or 0) > MAX_COLUMNS:
            raise TooLarge(f"the sheet declares {sheet.max_row} rows and {sheet.max_column} columns; "
                           f"the limit is {MAX_ROWS} rows below the header and {MAX_COLUMNS} columns")  # fmt: skip
        table = []
        for row in sheet.iter_rows(max_row=MAX_ROWS + 2, max_col=MAX_COLUMNS, values_only=True):
            if len(table) > MAX_ROWS:
                raise TooLarge(
                    f"the sheet has more than {MAX_ROWS} rows below the header (the limit; empty rows that carry formatting count too)"
                )
            cells = ["" if v is None else str(v) for v in row]
            while cells and not cells[-1]:
                cells.pop()  # rows come padded to MAX_COLUMNS; a blank tail is no cell
            table.append(cells)
        return table
    except UnreadableFile:
        raise
    except (BadZipFile, KeyError, ValueError, OSError, IndexError) as e:
        raise UnreadableFile(f"not a readable XLSX workbook ({type(e).__name__})") from None


def _jenjang(value: str) -> str:
    return "_".join(value.strip().lower().replace("-", " ").split())


def parse(program_id: str, table: list[list[str]], programs: Programs) -> RosterFile:
    if program_id not in programs:
        raise UnreadableFile(f"unknown program {program_id!r}")
    if not table or not any(cell.strip() for cell in table[0]):
        raise UnreadableFile("the file is empty: expected a header row")
    header = [COLUMNS.get(" ".join(cell.strip().lower().split())) for cell in table[0]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise UnreadableFile(f"missing column(s): {', '.join(missing)} (header row: {table[0][:10]})")
    body = table[1:]
    if len(body) > MAX_ROWS:
        raise TooLarge(f"{len(body)} rows exceed the limit of {MAX_ROWS}")
    result = RosterFile()
    first_row_of: dict[str, int] = {}
    for number, cells in enumerate(body, start=2):
        if not any(cell.strip() for cell in cells):
            continue  # blank lines at the end of a spreadsheet
        result.rows += 1
        if len(cells) > len(header):
            result.errors.append(RowError(number, None, f"{len(cells)} cells for {len(header)} columns"))
            continue
        values = {name: cell.strip() for name, cell in zip(header, cells, strict=False) if name}
        values = {k: v for k, v in values.items() if v or k in REQUIRED}
        if "jenjang" in values:
            values["jenjang"] = _jenjang(values["jenjang"])
        try:
            data = EnrolledData.model_validate({**values, "program_id": program_id}, context={"programs": programs})
        except ValidationError as e:
            for err in e.errors(include_url=False):
                where = ".".join(str(p) for p in err["loc"]) or None
                result.errors.append(RowError(number, where, err["msg"].removeprefix("Value error, ")))
            continue
        if (first := first_row_of.setdefault(data.nip, number)) != number:
            result.errors.append(RowError(number, "nip", f"the same NIP as row {first}"))
            continue
        result.accepted.append((number, data))
    return result
