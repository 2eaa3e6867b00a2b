"""FFI test: a lost or new phone loses nothing (issue 14), through the generated bindings against the sandbox.

The old phone registers, holds a licence, writes down a recovery code, queues two applications and backs
up; it sends its queue once more before it is lost. A new phone (new store, new vault, new device key)
restores the file with the code, registers, is handed over by the old phone's signed transfer QR (or the
platform's one-time code), gets its licence re-issued to its own key (the old binding refused), and sends
the restored queue: each application exists once on the platform. Damaged, truncated and foreign files,
typos and wrong codes are typed errors (`ZhangbanError.Backup`, its `code`) and nothing is restored. A
case filed at the counter is followed by its receipt. Standard library only."""

import hashlib
import json
import os
import shutil
import sqlite3
import time

from ffi import FfiTestCase, run, zb
from test_cases import Sandbox, SandboxCase
from test_wallet import policy

SELF = zb.self_subject()


def submission(code, title):
    return zb.Submission(
        item_codes=[code],
        title=title,
        values=json.dumps({"name": "李奶奶", "address": "杭州市西湖区"}, ensure_ascii=False),
        attachments=[],
        deferred_materials=[],
    )


class BackupTest(SandboxCase):
    def phone(self, name):
        """A registered phone: its store, cases and wallet."""
        store, cases = super().phone(name)
        return store, cases, zb.ZhangbanWallet.open(store)

    def old_phone_backed_up(self):
        """The old phone with a licence, a recovery code, two queued applications, and its backup."""
        store, cases, wallet = self.phone("old")
        lic = run(wallet.request_licence(self.sandbox.url, "resident_id", None))
        b = zb.ZhangbanBackup(store)
        self.assertTrue(b.should_offer_recovery_code(), "a licence is held and there is no code yet")
        self.assertFalse(b.has_recovery_code())
        with self.assertRaises(zb.ZhangbanError.Backup) as cm:
            run(b.back_up(self.path("none.zbk")))
        self.assertEqual(cm.exception.code, "no_recovery_code")
        code = run(b.make_recovery_code())
        self.assertRegex(code, r"^[0-9A-Z]{5}(-[0-9A-Z]{5}){4}$")
        self.assertTrue(b.has_recovery_code())
        self.assertFalse(b.should_offer_recovery_code())
        run(b.check_recovery_code(code.lower().replace("-", " ")))  # as typed back: case and spaces ignored
        item = self.sandbox.catalog_codes()[0]
        queued = [cases.submit(SELF, submission(item, t)) for t in ("居住证申领", "变更联系电话")]
        self.assertEqual(cases.pending_count(), 2)
        path = self.path("zhangban.zbk")
        made = run(b.back_up(path))
        self.assertTrue(os.path.exists(path) and not os.path.exists(path + ".part"))
        self.assertEqual(made.bytes, os.path.getsize(path))
        self.assertEqual(made.manifest.collections.get("licence"), 1)
        self.assertEqual(made.manifest.collections.get("outbox"), 2)
        self.assertEqual(made.manifest.collections.get("case"), 2)
        self.assertNotIn("device", made.manifest.collections, "the device key stays on the device")
        with open(path, "rb") as f:
            raw = f.read()
        for secret in ("李奶奶".encode(), b"110105", b"resident_id", b"outbox"):
            self.assertNotIn(secret, raw, "the file is sealed end to end")
        info = zb.inspect_backup(path)
        self.assertEqual((info.backup_id, info.bytes, info.kdf_m_kib), (made.backup_id, made.bytes, 32 * 1024))
        return store, cases, wallet, b, code, path, made, lic, queued

    def assert_backup_error(self, code, fn):
        with self.assertRaises(zb.ZhangbanError.Backup) as cm:
            fn()
        self.assertEqual(cm.exception.code, code, cm.exception.text_en())
        self.assertTrue(cm.exception.text_zh() and cm.exception.text_en())
        return cm.exception

    def test_restore_on_a_new_phone_rebind_by_the_old_phones_qr_and_the_queue_sent_once(self):
        old, old_cases, old_wallet, old_b, code, path, made, lic, queued = self.old_phone_backed_up()
        # The old phone still sends its queue before it is lost: the platform has both applications.
        self.assertEqual(run(old_cases.sync_now()).sent, 2)
        self.assertEqual(self.sandbox.clerk("stats")["cases"], 2)

        # The new phone: its own vault; a typo is caught before the KDF, the right code restores.
        typo = code[:3] + ("7" if code[3] != "7" else "8") + code[4:]
        self.assert_backup_error("code_typo", lambda: run(zb.open_backup_file(path, typo)))
        f = run(zb.open_backup_file(path, code))
        new_vault = self.file_vault("new.key")
        restored = run(f.restore(self.path("new"), new_vault, None))
        self.assertEqual(restored.manifest, made.manifest)
        self.assertEqual(restored.backup_id, made.backup_id)
        self.assertIsNotNone(restored.origin_device)
        self.assert_backup_error("target_exists", lambda: run(f.restore(self.path("new"), new_vault, None)))
        new = zb.ZhangbanStore.open(self.path("new"), new_vault)
        new_b = zb.ZhangbanBackup(new)
        self.assertEqual(new_b.awaiting_transfer_from(), restored.origin_device)
        new_cases = zb.ZhangbanCases(new, self.sandbox.url, None)
        self.assertEqual(
            sorted(c.id for c in new_cases.list(None)), sorted(c.id for c in old_cases.list(None)), "every case back"
        )
        self.assertEqual(new_cases.pending_count(), 2, "the restored queue (taken before the old phone sent it)")
        self.assertTrue(new_b.has_recovery_code(), "later backups on the new phone open with the same code")
        run(new_b.check_recovery_code(code))

        # Until the hand-over the restored queue waits: a sync sends nothing.
        run(new_cases.register_device("desktop", "python-new", "0"))
        new_wallet = zb.ZhangbanWallet.open(new)
        self.assertNotEqual(bytes(new_wallet.device_public_key()), bytes(old_wallet.device_public_key()))
        self.assertEqual(run(new_cases.sync_now()).sent, 0)
        self.assertEqual(new_cases.pending_count(), 2)

        # Phone to phone: the new phone shows its key, the old one signs the hand-over, the new one sends it.
        request = new_b.transfer_request()
        self.assertTrue(request.startswith("ZBTQ1:"))
        with self.assertRaises(zb.ZhangbanError.Validation) as cm:
            old_b.sign_transfer("ZBTQ1:" + "00" * 10)
        self.assertEqual(cm.exception.field, "qr")
        transfer = old_b.sign_transfer(request)
        self.assertTrue(transfer.startswith("ZBT1:" + restored.origin_device + "."))
        with self.assertRaises(zb.ZhangbanError.Validation):
            run(new_b.rebind_with_transfer(self.sandbox.url, transfer[: len(transfer) // 2] + "zz"))
        # A forged signature (another byte) is refused by the platform.
        forged = transfer[:-2] + ("00" if transfer[-2:] != "00" else "01")
        with self.assertRaises(zb.ZhangbanError.Rejected):
            run(new_b.rebind_with_transfer(self.sandbox.url, forged))
        report = run(new_b.rebind_with_transfer(self.sandbox.url, transfer))
        self.assertEqual(len(report.rebound), 1)
        self.assertEqual(report.removed, [lic.licence_id])
        self.assertIsNone(new_b.awaiting_transfer_from())

        # The re-issued licence verifies with the new device key; the old phone's binding is refused.
        lics = new_wallet.licences()
        self.assertEqual([l.status for l in lics], [zb.LicenceStatus.VALID])
        verifier = zb.ZhangbanWallet.open(self.new_store("verifier", self.file_vault("verifier.key")))
        run(verifier.refresh_lists(self.sandbox.url))
        v = verifier.verifier()
        ok = v.verify(new_wallet.present(lics[0].licence_id, zb.Preset.HOTEL_CHECK_IN(), None).qr_text, policy())
        self.assertTrue(ok.accepted, ok.reason)
        stale = v.verify(old_wallet.present(lic.licence_id, zb.Preset.HOTEL_CHECK_IN(), None).qr_text, policy())
        self.assertFalse(stale.accepted)
        self.assertEqual(stale.reason_code, "revoked")

        # The restored queue is sent now, and recognised by its idempotency keys: each application once.
        sent = run(new_cases.sync_now())
        self.assertEqual((sent.sent, new_cases.pending_count()), (2, 0))
        self.assertEqual(self.sandbox.clerk("stats")["cases"], 2, "each application exists once on the platform")
        receipts = {c.id: c.receipt for c in new_cases.list(None)}
        self.assertTrue(all(receipts.values()), receipts)
        # The old phone's token is refused: what it queues now is not let in.
        old_cases.submit(SELF, submission(self.sandbox.catalog_codes()[0], "旧手机"))
        self.assertEqual(run(old_cases.sync_now()).sent, 0)
        self.assertEqual(self.sandbox.clerk("stats")["cases"], 2)

    def test_rebind_by_the_platforms_one_time_code_and_follow_a_counter_case_by_its_receipt(self):
        _, _, _, _, code, path, _, _, _ = self.old_phone_backed_up()
        restored = run(run(zb.open_backup_file(path, code)).restore(self.path("new"), self.file_vault("n.key"), None))
        new = zb.ZhangbanStore.open(self.path("new"), self.file_vault("n.key"))
        new_cases = zb.ZhangbanCases(new, self.sandbox.url, None)
        run(new_cases.register_device("desktop", "python-new", "0"))
        b = zb.ZhangbanBackup(new)
        with self.assertRaises(zb.ZhangbanError.Validation) as cm:
            run(b.rebind_with_code(self.sandbox.url, restored.origin_device, "12ab"))
        self.assertEqual(cm.exception.field, "code")
        with self.assertRaises(zb.ZhangbanError.Rejected) as cm:
            run(b.rebind_with_code(self.sandbox.url, restored.origin_device, "00000000"))
        self.assertEqual(cm.exception.status, 403)
        otc = self.sandbox.clerk("transfer-code", restored.origin_device)["code"]
        report = run(b.rebind_with_code(self.sandbox.url, restored.origin_device, otc))
        self.assertEqual((len(report.rebound), report.moved_cases), (1, 0))
        self.assertEqual((run(new_cases.sync_now()).sent, self.sandbox.clerk("stats")["cases"]), (2, 2))

        # A case filed at the counter (一窗受理), followed by its receipt.
        item = self.sandbox.catalog_codes()[0]
        got = self.sandbox.clerk("intake", "--item", item, "--applicant", "11010519491231002X")
        with self.assertRaises(zb.ZhangbanError.Validation) as cm:
            run(b.follow_case(self.sandbox.url, SELF, got["receipt"], "11010519491231002X", "12345"))
        self.assertEqual(cm.exception.field, "query_code")
        wrong = "000000" if got["query_code"] != "000000" else "111111"
        with self.assertRaises(zb.ZhangbanError.Rejected) as cm:
            run(b.follow_case(self.sandbox.url, SELF, got["receipt"], "11010519491231002X", wrong))
        self.assertEqual(cm.exception.status, 403)
        case = run(b.follow_case(self.sandbox.url, SELF, got["receipt"], "11010519491231002X", got["query_code"]))
        self.assertEqual(case.receipt, got["receipt"])
        self.assertIn(case.id, [c.id for c in new_cases.list(None)])
        view = new_cases.view(case.id)
        self.assertTrue(view.summary.state_text.zh and view.summary.state_text.en)

    def test_damaged_truncated_foreign_files_and_wrong_codes_are_typed_and_nothing_is_restored(self):
        _, _, _, b, code, path, made, _, _ = self.old_phone_backed_up()
        with open(path, "rb") as f:
            raw = f.read()

        def variant(name, data):
            p = self.path(name)
            with open(p, "wb") as f:
                f.write(data)
            return p

        flipped = bytearray(raw)
        flipped[len(raw) // 2] ^= 0x01
        truncated = raw[: len(raw) - 100]
        for name, data, expect in [("flip.zbk", bytes(flipped), "damaged"), ("cut.zbk", truncated, "truncated")]:
            f = run(zb.open_backup_file(variant(name, data), code))  # the header is intact
            target = self.path("restore-" + name)
            self.assert_backup_error(expect, lambda: run(f.restore(target, self.file_vault(name + ".key"), None)))
            self.assertFalse(os.path.exists(target), "nothing restored")
            self.assertFalse(os.path.exists(target + ".restoring"), "nothing left behind")
        header = bytearray(raw)
        header[40] ^= 0x80
        self.assert_backup_error("damaged", lambda: zb.inspect_backup(variant("head.zbk", bytes(header))))
        self.assert_backup_error("not_a_backup", lambda: zb.inspect_backup(variant("photo.jpg", b"\xff\xd8\xff" * 100)))
        self.assert_backup_error("truncated", lambda: zb.inspect_backup(variant("short.zbk", raw[:100])))
        self.assert_backup_error("code_format", lambda: run(zb.open_backup_file(path, "ABC")))

        # A new code re-wraps the same key: the old file keeps opening with the old code only.
        new_code = run(b.make_recovery_code())
        self.assertNotEqual(new_code, code)
        self.assert_backup_error("wrong_code", lambda: run(b.check_recovery_code(code)))
        run(b.check_recovery_code(new_code))
        self.assert_backup_error("wrong_code", lambda: run(zb.open_backup_file(path, new_code)))
        second = run(b.back_up(self.path("second.zbk")))
        self.assertNotEqual(second.backup_id, made.backup_id)
        self.assertEqual(zb.inspect_backup(self.path("second.zbk")).key_id, zb.inspect_backup(path).key_id)
        self.assert_backup_error("wrong_code", lambda: run(zb.open_backup_file(self.path("second.zbk"), code)))
        f = run(zb.open_backup_file(path, code))
        self.assertEqual(run(f.restore(self.path("ok"), self.file_vault("ok.key"), None)).manifest, made.manifest)
        shutil.rmtree(self.path("ok"))


class PlatformBlobTest(FfiTestCase):
    """The sealed backup kept on the platform as an opaque blob: the platform holds exactly the ciphertext
    file (read from its own database), a new phone of the same person downloads it and restores, and a
    blob the platform altered — even with a matching digest — restores nothing."""

    def setUp(self):
        super().setUp()
        self.db = self.path("platform.db")
        self.sandbox = Sandbox(db=self.db)
        self.addCleanup(self.sandbox.stop)

    def platform_rows(self, sql, *args):
        con = sqlite3.connect(self.db, timeout=10)
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def test_upload_download_and_restore_and_the_platform_holds_only_ciphertext(self):
        store = self.new_store("old", self.file_vault("old.key"))
        cases = zb.ZhangbanCases(store, self.sandbox.url, None)
        run(cases.register_device("desktop", "python-old", "0"))
        run(zb.ZhangbanWallet.open(store).request_licence(self.sandbox.url, "resident_id", None))
        cases.submit(SELF, submission(self.sandbox.catalog_codes()[0], "居住证申领"))
        b = zb.ZhangbanBackup(store)
        self.assertIsNone(run(b.backup_on_platform(self.sandbox.url)))
        code = run(b.make_recovery_code())
        path = self.path("zhangban.zbk")
        # Big enough for several 1 MiB parts: an attachment of incompressible bytes.
        store.write_attachment(SELF, "scan.jpg", os.urandom(2_500_000))
        made = run(b.back_up(path))
        with open(path, "rb") as f:
            raw = f.read()
        up = run(b.upload_backup(self.sandbox.url, path))
        self.assertEqual((up.bytes, up.parts), (len(raw), 3))
        self.assertEqual(up.sha256, hashlib.sha256(raw).hexdigest())

        # What the platform keeps is the sealed file, byte for byte: nothing it could read.
        parts = self.platform_rows("SELECT bytes FROM backup_parts WHERE upload = ? ORDER BY n", up.upload)
        held = b"".join(p[0] for p in parts)
        self.assertEqual(held, raw)
        for plain in ("李奶奶".encode(), "张三".encode(), b"11010519491231002X", b"resident_id", b"scan.jpg"):
            self.assertNotIn(plain, held)

        # A new phone of the same person: a fresh store signs in, finds the blob, downloads, restores.
        fresh = self.new_store("fresh", self.file_vault("fresh.key"))
        run(zb.ZhangbanCases(fresh, self.sandbox.url, None).register_device("desktop", "python-new", "0"))
        fb = zb.ZhangbanBackup(fresh)
        self.assertEqual(run(fb.backup_on_platform(self.sandbox.url)), up)
        got = run(fb.download_backup(self.sandbox.url, self.path("down.zbk")))
        self.assertEqual(got, up)
        with open(self.path("down.zbk"), "rb") as f:
            self.assertEqual(f.read(), raw)
        restored = run(run(zb.open_backup_file(self.path("down.zbk"), code)).restore(self.path("new"), self.file_vault("n.key"), None))
        self.assertEqual(restored.manifest, made.manifest)
        self.assertEqual(restored.manifest.attachments, 1)

        # The platform alters a part: the download notices (digest) and leaves no file.
        con = sqlite3.connect(self.db, timeout=10)
        with con:
            blob = bytearray(raw)
            blob[1_500_000] ^= 0x01
            con.execute("UPDATE backup_parts SET bytes = ? WHERE upload = ? AND n = 1", (bytes(blob[1 << 20 : 2 << 20]), up.upload))
        con.close()
        with self.assertRaises(zb.ZhangbanError.Network):
            run(fb.download_backup(self.sandbox.url, self.path("bad.zbk")))
        self.assertFalse(os.path.exists(self.path("bad.zbk")) or os.path.exists(self.path("bad.zbk.part")))
        # …and one that also rewrote the digest it lists: the download matches it, the restore does not open.
        con = sqlite3.connect(self.db, timeout=10)
        with con:
            con.execute("UPDATE backup_blobs SET sha256 = ? WHERE upload = ?", (hashlib.sha256(bytes(blob)).hexdigest(), up.upload))
        con.close()
        run(fb.download_backup(self.sandbox.url, self.path("forged.zbk")))
        f = run(zb.open_backup_file(self.path("forged.zbk"), code))
        self.assert_backup_error("damaged", lambda: run(f.restore(self.path("forged"), self.file_vault("f.key"), None)))
        self.assertFalse(os.path.exists(self.path("forged")))

    def test_increments_restore_as_a_chain_and_an_older_blob_from_the_platform_is_refused(self):
        store = self.new_store("old", self.file_vault("old.key"))
        cases = zb.ZhangbanCases(store, self.sandbox.url, None)
        run(cases.register_device("desktop", "python-old", "0"))
        wallet = zb.ZhangbanWallet.open(store)
        run(wallet.request_licence(self.sandbox.url, "resident_id", None))
        b = zb.ZhangbanBackup(store)
        code = run(b.make_recovery_code())
        item = self.sandbox.catalog_codes()[0]
        store.write_attachment(SELF, "scan.jpg", os.urandom(1_200_000))
        p = [self.path(f"{i}.zbk") for i in range(4)]
        full = run(b.back_up(p[0]))
        self.assertEqual((full.base_id, full.chain_index), (None, 0))
        up = run(b.upload_backup(self.sandbox.url, p[0]))
        cases.submit(SELF, submission(item, "居住证申领"))
        inc1 = run(b.back_up_increment(p[1]))
        self.assertEqual((inc1.base_id, inc1.chain_index, inc1.generation), (full.backup_id, 1, full.generation + 1))
        self.assertEqual(inc1.manifest.attachments, 0, "the scan went with the full backup")
        self.assertLess(inc1.bytes * 20, full.bytes, (inc1.bytes, full.bytes))
        cases.submit(SELF, submission(item, "变更联系电话"))
        inc2 = run(b.back_up_increment(p[2]))
        self.assertEqual((inc2.base_id, inc2.chain_index), (inc1.backup_id, 2))
        info = zb.inspect_backup(p[2])
        self.assertEqual((info.base_id, info.chain_index, info.generation), (inc1.backup_id, 2, inc2.generation))
        # An increment alone cannot restore: the platform keeps full backups only.
        self.assert_backup_error("missing_base", lambda: run(b.upload_backup(self.sandbox.url, p[1])))

        # A missing or misplaced increment is refused before anything is written.
        for files, err in (([p[2], p[0]], "increment_missing"), ([p[2], p[1]], "missing_base")):
            f = run(zb.open_backup_files(files, code))
            self.assert_backup_error(err, lambda: run(f.restore(self.path("bad"), self.file_vault("bad.key"), None)))
            self.assertFalse(os.path.exists(self.path("bad")))
        # Picked in any order (a multiple selection in the file picker): the core orders them by their headers.
        f = run(zb.open_backup_files([p[2], p[0], p[1]], code))
        restored = run(f.restore(self.path("new"), self.file_vault("new.key"), None))
        self.assertEqual((restored.files, restored.generation, restored.attachments), (3, inc2.generation, 1))
        new = zb.ZhangbanStore.open(self.path("new"), self.file_vault("new.key"))
        new_cases = zb.ZhangbanCases(new, self.sandbox.url, None)
        self.assertEqual(sorted(c.id for c in new_cases.list(None)), sorted(c.id for c in cases.list(None)))
        self.assertEqual(len(new_cases.list(None)), 2, "both applications, from the two increments")
        self.assertEqual(new_cases.pending_count(), 2)

        # Rollback: the platform serves yesterday's full backup again (it kept the bytes) after a newer one.
        run(b.back_up(p[3]))
        # Two full backups picked together are not one chain.
        f = run(zb.open_backup_files([p[3], p[1], p[0]], code))
        self.assert_backup_error("chain_order", lambda: run(f.restore(self.path("bad"), self.file_vault("bad.key"), None)))
        self.assertFalse(os.path.exists(self.path("bad")))
        run(b.upload_backup(self.sandbox.url, p[3]))
        run(b.upload_backup(self.sandbox.url, p[0]))  # what a platform that kept the old blob can serve
        self.assertEqual(run(b.backup_on_platform(self.sandbox.url)).sha256, up.sha256)
        self.assert_backup_error("older_backup", lambda: run(b.download_backup(self.sandbox.url, self.path("served.zbk"))))
        self.assertFalse(os.path.exists(self.path("served.zbk")), "the rolled-back file is not kept")
        # The restored phone remembers the generation it restored: it refuses the old blob too.
        nb = zb.ZhangbanBackup(new)
        run(new_cases.register_device("desktop", "python-new", "0"))
        self.assert_backup_error("older_backup", lambda: run(nb.download_backup(self.sandbox.url, self.path("n.zbk"))))

        # A brand-new phone remembers nothing; the platform attests the generation the old phone's sync
        # run reported, so the old file handed over (a stale cloud-drive copy) is refused before the code.
        self.assertEqual(run(cases.sync_now()).backup_generation_reported, 4)
        self.assertEqual(run(cases.sync_now()).backup_generation_reported, 0, "reported once")
        fresh = self.new_store("fresh", self.file_vault("fresh.key"))
        run(zb.ZhangbanCases(fresh, self.sandbox.url, None).register_device("desktop", "python-fresh", "0"))
        fb = zb.ZhangbanBackup(fresh)
        err = self.assert_backup_error("older_backup", lambda: run(fb.check_backup_files(self.sandbox.url, [p[0]])))
        self.assertIn("4", err.text_zh())
        self.assertTrue(os.path.exists(p[0]), "a file the person handed over is not deleted")
        # The old chain picked whole, in any order: its newest file (generation 3) decides, and is older.
        self.assert_backup_error("older_backup", lambda: run(fb.check_backup_files(self.sandbox.url, [p[1], p[2], p[0]])))
        self.assertEqual(run(fb.check_backup_files(self.sandbox.url, [p[3]])).generation, 4)

    def assert_backup_error(self, code, fn):
        with self.assertRaises(zb.ZhangbanError.Backup) as cm:
            fn()
        self.assertEqual(cm.exception.code, code, cm.exception.text_en())
        self.assertTrue(cm.exception.text_zh() and cm.exception.text_en())
        return cm.exception


if __name__ == "__main__":
    import unittest

    unittest.main()
