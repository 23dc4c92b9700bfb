"""Make a console account: prints a new password (give it to the operator, once) and the
`name:argon2hash` entry to append to CONSOLE_USERS (the console stores only the hash).

    python -m ops.console_users new siti
"""

import argparse
import secrets

from services.console.security import hash_password
from shared.platform.auth import NAME


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="a new console account")
    new.add_argument("name", help="who signs in (history records actions as console:<name>)")
    args = parser.parse_args()
    if not NAME.fullmatch(args.name):
        parser.error("name: 1-64 letters, digits or . _ -")
    password = secrets.token_urlsafe(12)  # 96 random bits: nothing to guess even without argon2
    print(f"password (give to {args.name}; it is not stored anywhere): {password}")
    print(f"CONSOLE_USERS entry: {args.name}:{hash_password(password)}")


if __name__ == "__main__":
    main()
