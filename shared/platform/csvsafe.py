"""CSV that is safe to open in a spreadsheet (OWASP "CSV Injection").

Excel, LibreOffice and Google Sheets run a cell that starts with `=`, `+`, `-` or `@` as a
formula (tab and carriage return can smuggle one in too), so a participant named
`=HYPERLINK(...)` would run in the HR officer's spreadsheet. Every text cell we export goes
through `neutralise`; numbers are left as numbers.
"""

import csv
import io
from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """A text cell that a spreadsheet would run gets a leading apostrophe (OWASP's advice: the
    spreadsheet then shows it as text); anything else is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_line(values: Iterable) -> str:
    """One CSV record (RFC 4180 quoting, CRLF), every cell neutralised."""
    out = io.StringIO()
    csv.writer(out).writerow([neutralise(v) for v in values])
    return out.getvalue()
