"""Make an operator API key: prints the key (give it to the operator, once) and the
`name:sha256` entry to append to OPERATOR_API_KEYS (the services store only the hash).

    python -m ops.api_keys new budi
"""

import argparse

from shared.platform.auth import KEY_NAME, hash_key, new_key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="a new key for an operator")
    new.add_argument("name", help="who holds it (recorded in revocation and re-issue history)")
    args = parser.parse_args()
    if not KEY_NAME.fullmatch(args.name):  # the rule the services apply when they read OPERATOR_API_KEYS
        parser.error("name: 1-64 letters, digits or . _ @ -")
    key = new_key()
    print(f"key (give to {args.name}; it is not stored anywhere): {key}")
    print(f"OPERATOR_API_KEYS entry: {args.name}:{hash_key(key)}")


if __name__ == "__main__":
    main()
