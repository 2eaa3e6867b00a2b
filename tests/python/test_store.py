"""FFI tests of the encrypted store, through the generated Python bindings (standard library only)."""

import gc
import hashlib
import os
import random
import shutil
import sqlite3
import unittest
from pathlib import Path

from ffi import FfiTestCase, PyVault, run, zb

SELF = zb.self_subject()
PIN = "135790"


class RecordsTest(FfiTestCase):
    def test_write_read_list_delete(self):
        s = self.new_store()
        self.assertFalse(s.is_locked())
        s.put_string("profile", "me", SELF, '{"name":"李奶奶","id":"11010119900307457X"}')
        s.put("photo", "p1", SELF, b"\x00\xff\x10binary")
        self.assertEqual(s.get_string("profile", "me"), '{"name":"李奶奶","id":"11010119900307457X"}')
        rec = s.get("photo", "p1")
        self.assertEqual((rec.collection, rec.id, rec.subject, rec.body), ("photo", "p1", SELF, b"\x00\xff\x10binary"))
        self.assertIsNone(rec.tag)
        s.put_string("profile", "me", SELF, '{"name":"李奶奶（改）"}')  # replace
        self.assertEqual(len(s.list("profile", None)), 1)
        self.assertIn("改", s.get_string("profile", "me"))
        self.assertTrue(s.delete("photo", "p1"))
        self.assertFalse(s.delete("photo", "p1"))
        self.assertIsNone(s.get_opt("photo", "p1"))

    def test_records_survive_reopening_and_plaintext_is_not_in_the_file(self):
        s = self.new_store()
        s.put_string("profile", "me", SELF, '{"zb_marker_field":"张掌办测试"}')
        db = s.db_path()
        del s
        gc.collect()
        raw = b"".join(Path(p).read_bytes() for p in [db, db + "-wal"] if os.path.exists(p))
        self.assertFalse("张掌办测试".encode() in raw, "plaintext value in the database file")
        self.assertFalse(b"zb_marker_field" in raw, "plaintext key in the database file")
        s = self.open_store()
        self.assertEqual(s.get_string("profile", "me"), '{"zb_marker_field":"张掌办测试"}')

    def test_tags_and_keyed_lookup(self):
        s = self.new_store()
        s.put_with("outbox", "op1", SELF, b"{}", "pending", None)
        s.put_with("outbox", "op2", SELF, b"{}", "sent", None)
        s.put_with("person", "p", SELF, b'{"n":1}', None, "11010119900307457X")
        self.assertEqual([r.id for r in s.list_tagged("outbox", "pending")], ["op1"])
        self.assertEqual([r.id for r in s.find_by_lookup("person", "11010119900307457X")], ["p"])
        self.assertEqual(s.find_by_lookup("person", "11010119900307457Y"), [])
        db = s.db_path()
        del s
        gc.collect()
        with sqlite3.connect(db) as c:
            self.assertNotIn(b"11010119900307457X", b"".join(r[0] or b"" for r in c.execute("SELECT lookup FROM records")))

    def test_not_found_and_validation_name_what_and_where(self):
        s = self.new_store()
        with self.assertRaises(zb.ZhangbanError.NotFound) as cm:
            s.get("profile", "nobody")
        self.assertIn("nobody", cm.exception.what)
        self.assertIn("nobody", cm.exception.text_en())
        s.put("blob", "b", SELF, b"\xff\xfe")
        with self.assertRaises(zb.ZhangbanError.Validation) as cm:
            s.get_string("blob", "b")
        self.assertEqual(cm.exception.field, "body")
        with self.assertRaises(zb.ZhangbanError.Validation) as cm:
            self.new_store(name="store")  # a store already exists there
        self.assertEqual(cm.exception.field, "dir")
        self.assertTrue(cm.exception.message_zh and cm.exception.message_en)  # the variant's fields
        self.assertTrue(cm.exception.text_zh().startswith("dir"))
        with self.assertRaises(zb.ZhangbanError.NotFound):
            self.open_store(name="no-such-store")

    def test_async_integrity_check(self):
        s = self.new_store()
        for i in range(50):
            s.put_string("c", str(i), SELF, "x" * 500)
        self.assertIsNone(run(s.integrity_check()))

    def test_settings_are_readable_while_locked(self):
        s = self.new_store(pin=PIN)
        s.set_setting("sync.cursor", "42")
        s.lock()
        self.assertEqual(s.setting("sync.cursor"), "42")
        self.assertIsNone(s.setting("missing"))


class KeysTest(FfiTestCase):
    def test_wrong_vault_key_is_wrong_key(self):
        s = self.new_store(vault=self.file_vault("right.key"))
        s.put_string("profile", "me", SELF, "{}")
        del s
        gc.collect()
        with self.assertRaises(zb.ZhangbanError.WrongKey) as cm:
            self.open_store(vault=self.file_vault("other.key"))
        self.assertIn("key", cm.exception.text_en().lower())
        self.assertTrue(cm.exception.text_zh())
        self.assertEqual(self.open_store(vault=self.file_vault("right.key")).get_string("profile", "me"), "{}")

    def test_a_vault_implemented_in_python(self):
        v = PyVault()
        s = self.new_store(vault=v)
        s.put_string("profile", "me", SELF, '{"ok":true}')
        self.assertIn("wrap", [c[0] for c in v.calls])
        del s
        gc.collect()
        self.assertEqual(self.open_store(vault=v).get_string("profile", "me"), '{"ok":true}')
        self.assertEqual(self.open_store(vault=PyVault(v.key)).get_string("profile", "me"), '{"ok":true}')
        gc.collect()
        # Another key: the vault itself refuses (UnwrapFailed) -> WrongKey.
        with self.assertRaises(zb.ZhangbanError.WrongKey):
            self.open_store(vault=PyVault())

    def test_an_unauthenticated_vault_returning_garbage_hits_the_canary(self):
        class Sloppy(PyVault):
            def unwrap(self, alias, wrapped):
                return os.urandom(32)  # a broken vault: no check, just other bytes

        v = PyVault()
        s = self.new_store(vault=v)
        del s
        gc.collect()
        with self.assertRaises(zb.ZhangbanError.WrongKey):
            self.open_store(vault=Sloppy(v.key))

    def test_a_vault_that_throws_is_a_storage_error_not_a_crash(self):
        class Broken(PyVault):
            def unwrap(self, alias, wrapped):
                raise RuntimeError("keystore busy")

        class Unavailable(PyVault):
            def unwrap(self, alias, wrapped):
                raise zb.KeyVaultError.Unavailable("user not authenticated")

        v = PyVault()
        s = self.new_store(vault=v)
        del s
        gc.collect()
        with self.assertRaises(zb.ZhangbanError.Storage) as cm:
            self.open_store(vault=Unavailable(v.key))
        self.assertIn("user not authenticated", cm.exception.detail)
        with self.assertRaises(zb.ZhangbanError.Storage):
            self.open_store(vault=Broken(v.key))
        self.assertEqual(self.open_store(vault=v).list("profile", None), [])


class CorruptionTest(FfiTestCase):
    def _store_with_three(self):
        s = self.new_store()
        for rid in ("a", "b", "c"):
            s.put_string("profile", rid, SELF, '{"record":"%s","pad":"%s"}' % (rid, "y" * 200))
        db = s.db_path()
        del s
        gc.collect()  # closes the database: the WAL is checkpointed into the main file
        return db

    def _assert_only_b_is_corrupted(self):
        s = self.open_store()
        with self.assertRaises(zb.ZhangbanError.Corrupted) as cm:
            s.get("profile", "b")
        self.assertEqual((cm.exception.table, cm.exception.record), ("records/profile", "b"))
        self.assertIn("b", cm.exception.text_en())
        self.assertIn('"record":"a"', s.get_string("profile", "a"))
        self.assertIn('"record":"c"', s.get_string("profile", "c"))
        with self.assertRaises(zb.ZhangbanError.Corrupted):
            s.list("profile", None)
        # The file itself is sound: only one value's ciphertext was changed.
        self.assertIsNone(run(s.integrity_check()))

    def test_a_changed_ciphertext_through_sqlite_is_corrupted(self):
        db = self._store_with_three()
        with sqlite3.connect(db) as c:
            (body,) = c.execute("SELECT body FROM records WHERE collection='profile' AND id='b'").fetchone()
            flipped = bytearray(body)
            flipped[len(flipped) // 2] ^= 0x01
            c.execute("UPDATE records SET body=? WHERE collection='profile' AND id='b'", (bytes(flipped),))
        self._assert_only_b_is_corrupted()

    def test_a_byte_flipped_in_the_database_file_is_corrupted(self):
        db = self._store_with_three()
        with sqlite3.connect(db) as c:
            (body,) = c.execute("SELECT body FROM records WHERE collection='profile' AND id='b'").fetchone()
        raw = bytearray(Path(db).read_bytes())
        at = raw.find(body)
        self.assertGreater(at, 0, "ciphertext not found in the file")
        self.assertEqual(raw.find(body, at + 1), -1)
        raw[at + len(body) - 5] ^= 0x80  # inside the ciphertext / tag, in place
        Path(db).write_bytes(bytes(raw))
        self._assert_only_b_is_corrupted()

    def test_a_value_moved_to_another_row_does_not_decrypt(self):
        db = self._store_with_three()
        with sqlite3.connect(db) as c:
            (body,) = c.execute("SELECT body FROM records WHERE collection='profile' AND id='a'").fetchone()
            c.execute("UPDATE records SET body=? WHERE collection='profile' AND id='b'", (body,))
        self._assert_only_b_is_corrupted()

    def test_a_garbage_file_is_a_typed_error(self):
        d = self.tmp / "store"
        d.mkdir()
        (d / "zhangban.db").write_bytes(os.urandom(8192))
        with self.assertRaises(zb.ZhangbanError) as cm:
            self.open_store()
        self.assertIsInstance(cm.exception, (zb.ZhangbanError.Corrupted, zb.ZhangbanError.Storage))


class RandomByteFlipTest(FfiTestCase):
    """Byte flips at random offsets of the database file: every outcome is either the right data or a typed
    ZhangbanError — never another exception, a crash, or wrong data returned as if it were right."""

    ITERATIONS = 100

    def test_random_flips_give_right_data_or_typed_errors(self):
        seed = int(os.environ.get("ZHANGBAN_FLIP_SEED", random.randrange(1 << 30)))
        rng = random.Random(seed)
        s = self.new_store(name="pristine")
        bodies = {}
        for i in range(20):
            bodies[f"r{i}"] = ('{"i":%d,"text":"%s"}' % (i, "材料" * rng.randrange(1, 60))).encode()
            s.put("profile", f"r{i}", SELF, bodies[f"r{i}"])
        del s
        gc.collect()
        pristine = self.tmp / "pristine"
        pristine_raw = (pristine / "zhangban.db").read_bytes()
        # Half the flips anywhere, half in bytes that hold something (most of a small file is zero padding).
        nonzero = [i for i, b in enumerate(pristine_raw) if b]
        outcomes = {"ok": 0}
        for n in range(self.ITERATIONS):
            work = self.tmp / f"flip{n}"
            shutil.copytree(pristine, work)
            db = work / "zhangban.db"
            raw = bytearray(db.read_bytes())
            at = rng.randrange(len(raw)) if n % 2 else rng.choice(nonzero)
            raw[at] ^= 1 << rng.randrange(8)
            db.write_bytes(bytes(raw))
            ctx = f"seed={seed} iteration={n} offset={at}"
            try:
                st = zb.ZhangbanStore.open(str(work), self.file_vault())
                for rid, body in bodies.items():
                    try:
                        got = st.get("profile", rid).body
                        self.assertEqual(got, body, f"wrong data returned for {rid} ({ctx})")
                        outcomes["ok"] += 1
                    except zb.ZhangbanError as e:
                        outcomes[type(e).__name__] = outcomes.get(type(e).__name__, 0) + 1
                try:
                    for r in st.list("profile", None):
                        self.assertEqual(r.body, bodies.get(r.id), f"wrong data in list ({ctx})")
                except zb.ZhangbanError:
                    pass
                del st
            except zb.ZhangbanError as e:
                outcomes["open:" + type(e).__name__] = outcomes.get("open:" + type(e).__name__, 0) + 1
            gc.collect()
            shutil.rmtree(work)
        print(f"\n    {self.ITERATIONS} byte flips (ZHANGBAN_FLIP_SEED={seed}): {outcomes}")
        # Most flips land in pages or bytes that do not matter; the test is that nothing else happened.
        self.assertGreater(outcomes["ok"], 0, outcomes)


class PinTest(FfiTestCase):
    def test_short_pin_is_rejected_with_the_field(self):
        with self.assertRaises(zb.ZhangbanError.Validation) as cm:
            self.new_store(pin="12")
        self.assertEqual(cm.exception.field, "pin")
        self.assertIn("PIN", cm.exception.text_zh())

    def test_wrong_pins_count_then_lock_out_and_survive_reopening(self):
        s = self.new_store(pin=PIN)
        s.put_string("profile", "me", SELF, "{}")
        self.assertTrue(s.has_pin())
        del s
        gc.collect()

        s = self.open_store()
        self.assertTrue(s.is_locked())
        with self.assertRaises(zb.ZhangbanError.Locked) as cm:
            s.get("profile", "me")
        self.assertEqual(cm.exception.retry_after_secs, 0)
        # A wrong PIN, then the right one: unlocked, and the failure count starts again.
        with self.assertRaises(zb.ZhangbanError.WrongPin) as cm:
            s.unlock("000000")
        self.assertEqual(cm.exception.attempts_left, 4)
        s.unlock(PIN)
        self.assertFalse(s.is_locked())
        self.assertEqual(s.get_string("profile", "me"), "{}")
        s.lock()
        self.assertTrue(s.is_locked())

        left = []
        for _ in range(4):
            with self.assertRaises(zb.ZhangbanError.WrongPin) as cm:
                s.unlock("000000")
            left.append(cm.exception.attempts_left)
            self.assertIn(str(cm.exception.attempts_left), cm.exception.text_en())
        self.assertEqual(left, [4, 3, 2, 1])
        with self.assertRaises(zb.ZhangbanError.Locked) as cm:
            s.unlock("000000")
        self.assertEqual(cm.exception.retry_after_secs, 30)
        self.assertIn("30", cm.exception.text_zh())
        # Even the right PIN must wait now.
        with self.assertRaises(zb.ZhangbanError.Locked) as cm:
            s.unlock(PIN)
        self.assertGreater(cm.exception.retry_after_secs, 0)
        self.assertTrue(0 < s.lockout_remaining() <= 30)
        del s
        gc.collect()
        # Killing / reopening the app does not reset the count.
        s = self.open_store()
        self.assertTrue(0 < s.lockout_remaining() <= 30)
        with self.assertRaises(zb.ZhangbanError.Locked):
            s.unlock(PIN)

    def test_change_pin(self):
        s = self.new_store(pin=PIN)
        s.change_pin(PIN, "24681012")
        s.lock()
        with self.assertRaises(zb.ZhangbanError.WrongPin):
            s.unlock(PIN)
        s.unlock("24681012")
        s.change_pin("24681012", None)  # remove the PIN
        del s
        gc.collect()
        self.assertFalse(self.open_store().is_locked())


class SubjectsAttachmentsAuditTest(FfiTestCase):
    def test_shredding_a_principal(self):
        s = self.new_store()
        p = s.create_subject(zb.SubjectType.PRINCIPAL, "王大爷")
        s.put_string("draft", "d1", p, '{"principal":true}')
        a = s.write_attachment(p, "hukou.jpg", b"photo" * 1000)
        subjects = {x.id: x for x in s.subjects()}
        self.assertEqual(subjects[p].label, "王大爷")
        self.assertEqual(subjects[p].kind, zb.SubjectType.PRINCIPAL)
        self.assertEqual(subjects[SELF].kind, zb.SubjectType.OWNER)
        s.shred_subject(p)
        self.assertTrue({x.id: x for x in s.subjects()}[p].shredded)
        self.assertIsNone(s.get_opt("draft", "d1"))
        with self.assertRaises(zb.ZhangbanError.NotFound):
            s.read_attachment(a.id)
        with self.assertRaises(zb.ZhangbanError.Shredded) as cm:
            s.put_string("draft", "d2", p, "{}")
        self.assertEqual(cm.exception.subject, p)
        with self.assertRaises(zb.ZhangbanError.Validation):
            s.shred_subject(SELF)

    def test_attachments_roundtrip_bytes_and_files(self):
        s = self.new_store()
        data = os.urandom(200_000)  # several 64 KiB chunks
        a = s.write_attachment(SELF, "材料.pdf", data)
        self.assertEqual((a.size, a.name, a.subject), (len(data), "材料.pdf", SELF))
        self.assertEqual(s.read_attachment(a.id), data)
        self.assertEqual(s.attachment_info(a.id), a)
        src = self.tmp / "in.bin"
        src.write_bytes(data[:70_000])
        b = s.write_attachment_from_path(SELF, "in.bin", str(src))
        out = self.tmp / "out.bin"
        self.assertEqual(s.read_attachment_to_path(b.id, str(out)), 70_000)
        self.assertEqual(out.read_bytes(), data[:70_000])
        self.assertEqual(b.sha256, hashlib.sha256(data[:70_000]).hexdigest())
        # The file on disk is ciphertext.
        enc = (self.tmp / "store" / "attachments" / f"{a.id}.zba").read_bytes()
        self.assertNotIn(data[1000:1032], enc)
        s.delete_attachment(a.id)
        with self.assertRaises(zb.ZhangbanError.NotFound):
            s.read_attachment(a.id)
        with self.assertRaises(zb.ZhangbanError.Validation) as cm:
            s.write_attachment_from_path(SELF, "x", str(self.tmp / "missing.bin"))
        self.assertEqual(cm.exception.field, "path")

    def test_a_flipped_attachment_byte_is_corrupted_and_writes_no_output(self):
        s = self.new_store()
        a = s.write_attachment(SELF, "id.jpg", os.urandom(150_000))
        f = self.tmp / "store" / "attachments" / f"{a.id}.zba"
        raw = bytearray(f.read_bytes())
        raw[len(raw) // 2] ^= 0x04
        f.write_bytes(bytes(raw))
        with self.assertRaises(zb.ZhangbanError.Corrupted):
            s.read_attachment(a.id)
        out = self.tmp / "out.jpg"
        with self.assertRaises(zb.ZhangbanError.Corrupted):
            s.read_attachment_to_path(a.id, str(out))
        self.assertFalse(out.exists())

    def test_audit_chain(self):
        s = self.new_store()
        s.audit_append("self", "licence.present", SELF, "L1", '{"to":"hotel","fields":["name"]}')
        s.audit_append("self", "licence.grant", SELF, "L2", "{}")
        entries = s.audit_entries(None)
        self.assertEqual([e.action for e in entries], ["licence.present", "licence.grant"])
        self.assertEqual([e.target for e in s.audit_entries("L1")], ["L1"])
        self.assertEqual(s.audit_verify(), zb.AuditVerification(entries=2, first_broken=None))
        db = s.db_path()
        del s
        gc.collect()
        with sqlite3.connect(db) as c:
            # Triggers refuse UPDATE; rewrite the chain by dropping them, as an attacker with the file could.
            for (name,) in c.execute("SELECT name FROM sqlite_master WHERE type='trigger'").fetchall():
                c.execute(f"DROP TRIGGER {name}")
            c.execute("UPDATE audit_log SET action='licence.nothing' WHERE seq=1")
        v = self.open_store().audit_verify()
        self.assertEqual(v.first_broken, 1)


class DamageTest(FfiTestCase):
    """Damage is reported as damage (issue 16): never as a wrong key, a missing record or a short list; and a
    damaged store can still be salvaged."""

    def _store_with_records(self, n=20):
        folder = os.path.join(self.tmp, "damaged")
        vault = zb.file_vault(os.path.join(self.tmp, "damaged.key"))
        store = zb.ZhangbanStore.create(folder, vault, None)
        for i in range(n):
            store.put("case", f"c{i}", SELF, f"body {i}".encode())
        del store
        gc.collect()
        return folder, vault, os.path.join(folder, "zhangban.db")

    def test_a_damaged_canary_is_corrupted_and_the_store_can_be_salvaged(self):
        folder, vault, db = self._store_with_records()
        with sqlite3.connect(db) as c:
            (canary,) = c.execute("SELECT value FROM meta WHERE key = 'canary'").fetchone()
            bad = bytearray(canary)
            bad[len(bad) // 2] ^= 0x01
            c.execute("UPDATE meta SET value = ? WHERE key = 'canary'", (bytes(bad),))
        with self.assertRaises(zb.ZhangbanError.Corrupted) as e:
            zb.ZhangbanStore.open(folder, vault)
        self.assertEqual((e.exception.table, e.exception.record), ("meta", "canary"))
        report = zb.salvage_store(folder, vault, None)
        self.assertEqual(sorted(r.id for r in report.records if r.collection == "case"), sorted(f"c{i}" for i in range(20)))
        self.assertEqual(report.damaged, ["meta/canary"])
        # Another key is still a wrong key, on both paths.
        other = zb.file_vault(os.path.join(self.tmp, "other.key"))
        with self.assertRaises(zb.ZhangbanError.WrongKey):
            zb.salvage_store(folder, other, None)

    def test_a_lost_row_is_corrupted_not_not_found_and_a_short_list_is_an_error(self):
        folder, vault, db = self._store_with_records()
        with sqlite3.connect(db) as c:
            # What a damaged b-tree page does: a row gone, its count not.
            c.execute("DROP TRIGGER record_counts_delete")
            c.execute("DELETE FROM records WHERE id = 'c7'")
        store = zb.ZhangbanStore.open(folder, vault)
        with self.assertRaises(zb.ZhangbanError.Corrupted):
            store.get("case", "c7")
        with self.assertRaises(zb.ZhangbanError.Corrupted):
            store.list("case", None)
        self.assertEqual(store.get("case", "c8").body, b"body 8")
        report = zb.salvage_store(folder, vault, None)
        self.assertEqual(len([r for r in report.records if r.collection == "case"]), 19)
        self.assertEqual(report.expected_records, 20)


if __name__ == "__main__":
    unittest.main()
