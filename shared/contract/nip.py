"""NIP (Nomor Induk Pegawai): the 18-digit civil-servant number.

Layout: birth date YYYYMMDD, appointment YYYYMM, sex (1 or 2), sequence (3 digits).
"""

import datetime as dt
import re

_NIP = re.compile(r"[0-9]{18}")  # ASCII only: \d would accept other scripts' digits
_NIP_IN_TEXT = re.compile(r"(?<![0-9])[0-9]{18}(?![0-9])")


class InvalidNip(ValueError):
    pass


def validate_nip(value: str) -> str:
    """Return the NIP unchanged, or raise InvalidNip saying which rule it breaks."""
    if not isinstance(value, str) or not _NIP.fullmatch(value):
        raise InvalidNip("NIP must be exactly 18 digits")
    try:
        dt.date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        raise InvalidNip("NIP digits 1-8 are not a real birth date YYYYMMDD") from None
    month = int(value[12:14])
    if not 1 <= month <= 12 or int(value[8:12]) < 1900:
        raise InvalidNip("NIP digits 9-14 are not a real appointment YYYYMM")
    if value[14] not in "12":
        raise InvalidNip("NIP digit 15 must be 1 or 2")
    return value


def mask_nip(nip: str) -> str:
    """Public pages show birth date and sequence only: 19850312******1004."""
    return nip[:8] + "*" * 6 + nip[14:]


def mask_nips(text: str) -> str:
    """Any 18-digit run in free text (an exception message, a document key) masked like `mask_nip`:
    what may appear in logs above debug level."""
    return _NIP_IN_TEXT.sub(lambda m: mask_nip(m.group()), text)


def group_nip(nip: str) -> str:
    """The printed form, grouped 8-6-1-3: 19850312 201001 1 004."""
    return f"{nip[:8]} {nip[8:14]} {nip[14]} {nip[15:]}"
