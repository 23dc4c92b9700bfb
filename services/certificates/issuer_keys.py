"""The credential signing keys (JOSE, with joserfc): a directory of RSA private keys in PEM.

Rotation: add a key file whose name sorts last (e.g. `2027-01-01.pem`); it signs from the next
start, and every key in the directory stays in the public JWKS, so credentials signed by an older
key keep verifying. Remove a key only when nothing it signed needs to verify any more. The local
run and the tests make one key on first start (`devstack.keys.make_key`).
"""

from pathlib import Path

from joserfc import jwt
from joserfc.jwk import RSAKey

ALGORITHM = "RS256"  # OB 3.0 §8.2.1: the algorithm every verifier must support


class IssuerKeys:
    def __init__(self, directory: Path, jwks_url: str):
        files = sorted(Path(directory).glob("*.pem"))
        if not files:
            raise ValueError(f"no credential signing key (*.pem) in {directory}")
        self._load({str(path): path.read_bytes() for path in files}, jwks_url)

    @classmethod
    def from_pems(cls, pems: tuple[bytes, ...], jwks_url: str) -> "IssuerKeys":
        """The keys another process loaded (its `pems`): a render worker signs with exactly the
        keys the service publishes, whatever the directory has held since the service started."""
        keys = cls.__new__(cls)
        keys._load({f"key {n}": pem for n, pem in enumerate(pems, 1)}, jwks_url)
        return keys

    def _load(self, pems: dict[str, bytes], jwks_url: str) -> None:
        self.pems = tuple(pems.values())  # private keys: for a render worker, never logged
        self._keys = []
        for name, pem in pems.items():
            key = RSAKey.import_key(pem)
            if not key.is_private:
                raise ValueError(f"{name} holds no private key")
            # The kid is a URL that dereferences to this one public JWK (OB 3.0 §8.2.1: 1EdTech's
            # validator GETs it and reads `n` and `e`), named by the key's RFC 7638 thumbprint.
            kid = f"{jwks_url.rsplit('/', 1)[0]}/keys/{key.thumbprint()}"
            self._keys.append(RSAKey.import_key(pem, {"kid": kid, "alg": ALGORITHM, "use": "sig"}))
        self._signing = self._keys[-1]

    @property
    def kid(self) -> str:
        return self._signing.kid

    def sign(self, claims: dict) -> str:
        return jwt.encode({"alg": ALGORITHM, "kid": self._signing.kid, "typ": "JWT"}, claims, self._signing,
                          algorithms=[ALGORITHM])  # fmt: skip

    def jwks(self) -> dict:
        return {"keys": [key.as_dict(private=False) for key in self._keys]}

    def public_key(self, thumbprint: str) -> dict | None:
        """The public JWK a `kid` names, or None."""
        return next((key.as_dict(private=False) for key in self._keys if key.kid.endswith(f"/keys/{thumbprint}")), None)
