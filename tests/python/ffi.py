"""Shared helper of the Python FFI tests: loads the generated bindings and gives tests a temporary folder,
vaults and stores.

    from ffi import zb, FfiTestCase          # zb is the generated module `zhangban_ffi`

    class MyTest(FfiTestCase):
        def test_x(self):
            store = self.new_store()            # fresh encrypted store in a temporary folder
            ...

The bindings come from `bindings/generate.sh python` (tests/run.sh runs it), which puts
`zhangban_ffi.py` and the library side by side in bindings/generated/python. Set ZHANGBAN_PY_BINDINGS to
use another folder. The generated modules form the package `zhangban` (one module per core crate);
`zb` merges their public names. Standard library only.
"""

import asyncio
import gc
import hashlib
import hmac
import os
import shutil
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BINDINGS_DIR = Path(os.environ.get("ZHANGBAN_PY_BINDINGS", ROOT / "bindings" / "generated" / "python"))
# Cargo's build folder: CARGO_TARGET_DIR when set (relative to the repository root, as cargo reads it from
# there), else target/. The sandbox binary is the one `tests/run.sh` builds into it.
TARGET_DIR = (ROOT / os.environ["CARGO_TARGET_DIR"]) if os.environ.get("CARGO_TARGET_DIR") else ROOT / "target"
SANDBOX_BIN = Path(os.environ.get("ZHANGBAN_SANDBOX_BIN", TARGET_DIR / "debug" / "zhangban-sandbox"))


def _load():
    package = BINDINGS_DIR / "zhangban" / "zhangban_ffi.py"
    if not package.exists():
        raise ImportError(
            f"{package} is missing: generate the bindings first with `bindings/generate.sh python` "
            "(tests/run.sh does it)"
        )
    if str(BINDINGS_DIR) not in sys.path:
        sys.path.insert(0, str(BINDINGS_DIR))
    import importlib
    import types

    # Each core crate is its own UniFFI namespace (zhangban_base, zhangban_wallet, ...; zhangban_ffi holds
    # the facade's objects). Tests see them as one namespace `zb`, as a Kotlin or Swift file that imports
    # them all does; a name defined twice would be a bug of the bindings, so it fails here.
    merged = types.SimpleNamespace()
    seen = {}
    for f in sorted((BINDINGS_DIR / "zhangban").glob("zhangban_*.py")):
        mod = importlib.import_module(f"zhangban.{f.stem}")
        for name in getattr(mod, "__all__", []):
            if name == "InternalError":  # UniFFI's own, one per generated module
                continue
            if name in seen and getattr(mod, name) is not seen[name][1]:
                raise ImportError(f"{name} is defined by both {seen[name][0]} and {f.stem}")
            seen[name] = (f.stem, getattr(mod, name))
            setattr(merged, name, getattr(mod, name))
    return merged


zb = _load()


def run(coro):
    """Runs one coroutine of an async export to completion."""
    return asyncio.run(coro)


class PyVault(zb.KeyVault):
    """A key vault implemented in Python (the way Kotlin and Swift implement it over the Keystore /
    Keychain). Authenticated: a SHA-256 keystream XOR plus an HMAC tag, so a blob from another vault
    raises UnwrapFailed. A toy for tests, not a cipher to ship.

    Each alias has its own key, derived from the vault's key, the alias and how often the alias was
    destroyed: `destroy` replaces a key this instance made for good, as the Keystore's `deleteEntry` does,
    and leaves an alias without a key as it is (the store destroys the alias of its next rollback epoch
    before making it, in case a killed transaction left one). A new instance over the same key stands for a
    copy of the vault's keys taken before, which a hardware vault never gives out."""

    def __init__(self, key=None):
        self.key = key if key is not None else os.urandom(32)
        self.calls = []
        self.destroyed = {}
        self.made = set()

    def _alias_key(self, alias):
        gen = self.destroyed.get(alias, 0).to_bytes(8, "big")
        return hmac.new(self.key, b"alias\0" + alias.encode() + b"\0" + gen, hashlib.sha256).digest()

    def _stream(self, key, nonce, n):
        out = b""
        counter = 0
        while len(out) < n:
            out += hashlib.sha256(key + nonce + counter.to_bytes(8, "big")).digest()
            counter += 1
        return out[:n]

    def _tag(self, key, alias, nonce, ct):
        return hmac.new(key, alias.encode() + b"\0" + nonce + ct, hashlib.sha256).digest()[:16]

    def wrap(self, alias, plaintext):
        self.calls.append(("wrap", alias))
        self.made.add(alias)
        key = self._alias_key(alias)
        nonce = os.urandom(16)
        ct = bytes(a ^ b for a, b in zip(plaintext, self._stream(key, nonce, len(plaintext))))
        return nonce + ct + self._tag(key, alias, nonce, ct)

    def unwrap(self, alias, wrapped):
        self.calls.append(("unwrap", alias))
        key = self._alias_key(alias)
        if len(wrapped) < 32:
            raise zb.KeyVaultError.UnwrapFailed()
        nonce, ct, tag = wrapped[:16], wrapped[16:-16], wrapped[-16:]
        if not hmac.compare_digest(tag, self._tag(key, alias, nonce, ct)):
            raise zb.KeyVaultError.UnwrapFailed()
        return bytes(a ^ b for a, b in zip(ct, self._stream(key, nonce, len(ct))))

    def destroy(self, alias):
        self.calls.append(("destroy", alias))
        if alias in self.made:
            self.made.discard(alias)
            self.destroyed[alias] = self.destroyed.get(alias, 0) + 1


class FfiTestCase(unittest.TestCase):
    """A test case with a temporary folder removed afterwards, and helpers for vaults and stores."""

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="zhangban-ffi-"))

    def tearDown(self):
        gc.collect()  # close stores before their folder goes
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *parts):
        return str(self.tmp.joinpath(*parts))

    def file_vault(self, name="vault.key"):
        return zb.file_vault(self.path(name))

    def new_store(self, name="store", vault=None, pin=None, clock=None):
        """Creates a store in a fresh folder under the temporary folder; with `clock` (a ZhangbanTestClock)
        the store reads the time from it."""
        if clock is not None:
            return zb.ZhangbanStore.open_or_create_with_clock(self.path(name), vault or self.file_vault(), pin, clock)
        return zb.ZhangbanStore.create(self.path(name), vault or self.file_vault(), pin)

    def open_store(self, name="store", vault=None):
        return zb.ZhangbanStore.open(self.path(name), vault or self.file_vault())
