"""FFI tests of the e-licence wallet through the generated Python bindings (standard library only).

The holder's device key is held "by the platform": here a pure-Python P-256 ECDSA signer implements the
foreign `DeviceSigner` trait (the way a StrongBox / Secure Enclave key would). The licence, the signed
trust and status lists and the presentation cases come from tests/vectors/wallet.json, at its fixed clock.
"""

import hashlib
import json
import secrets
import subprocess
import unittest
import urllib.request

from ffi import ROOT, SANDBOX_BIN, FfiTestCase, run, zb

VECTORS = json.loads((ROOT / "tests" / "vectors" / "wallet.json").read_text(encoding="utf-8"))
NOW = VECTORS["now"]

# --- P-256 (secp256r1) ECDSA, signing only, for the test signer --------------------------------------
P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
A = P - 3
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)


def _add(p1, p2):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2 and (y1 + y2) % P == 0:
        return None
    if p1 == p2:
        lam = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return (x3, (lam * (x1 - x3) - y1) % P)


def _mul(k, point):
    out = None
    while k:
        if k & 1:
            out = _add(out, point)
        point = _add(point, point)
        k >>= 1
    return out


class PySigner(zb.DeviceSigner):
    """An ES256 device key in Python: public key SEC1 uncompressed, signatures r || s."""

    def __init__(self, private_hex, fail=None):
        self.d = int(private_hex, 16)
        x, y = _mul(self.d, G)
        self.pub = b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")
        self.fail = fail
        self.signed = 0

    def public_key(self):
        return self.pub

    def sign(self, message):
        if self.fail == "auth":
            raise zb.DeviceSignerError.NeedsUserAuthentication()
        if self.fail:
            raise zb.DeviceSignerError.Unavailable("KeyPermanentlyInvalidatedException")
        e = int.from_bytes(hashlib.sha256(message).digest(), "big")
        while True:
            k = secrets.randbelow(N - 1) + 1
            r = _mul(k, G)[0] % N
            s = pow(k, -1, N) * (e + r * self.d) % N
            if r and s:
                self.signed += 1
                return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def policy(**kw):
    p = zb.default_verify_policy()
    # A verifier lists the purposes it accepts (an empty list accepts none: no_purpose_policy).
    p.accepted_purposes = ["full", "custom", "hotel-check-in", "age-check", "x"]
    for k, v in kw.items():
        setattr(p, k, v)
    return p


class WalletTest(FfiTestCase):
    """Every store of a test reads one test clock, standing at the vectors' NOW; a test steps it."""

    def setUp(self):
        super().setUp()
        self.clock = zb.ZhangbanTestClock(NOW)

    def new_store(self, name="store", vault=None, pin=None, clock=None):
        return super().new_store(name, vault, pin, clock or self.clock)

    def at(self, t):
        """Sets the stores' clock to `t` (Unix seconds)."""
        self.clock.set(t)

    def load_lists(self, wallet):
        wallet.update_trust_list(bytes.fromhex(VECTORS["trust_list_hex"]))
        wallet.update_status_list(bytes.fromhex(VECTORS["status_list_hex"]))

    def holder(self, signer=None):
        signer = signer or PySigner(VECTORS["keys"]["device_private_hex"])
        w = zb.ZhangbanWallet.with_signer(self.new_store("holder"), signer)
        self.load_lists(w)
        return w, signer

    def verifier(self):
        self.verifiers = getattr(self, "verifiers", 0) + 1
        w = zb.ZhangbanWallet.open(self.new_store(f"verifier{self.verifiers}"))
        self.load_lists(w)
        return w.verifier()

    def test_python_signer_holds_the_vector_device_key(self):
        signer = PySigner(VECTORS["keys"]["device_private_hex"])
        self.assertEqual(signer.public_key().hex(), VECTORS["keys"]["device_public_hex"])

    def test_import_present_render_and_verify(self):
        w, signer = self.holder()
        item = w.import_licence(bytes.fromhex(VECTORS["licence_hex"]))
        self.assertEqual(item.licence_id, VECTORS["licence_id"])
        self.assertEqual(item.licence_type, "resident_id")
        self.assertEqual(item.type_name.zh, "居民身份证")
        self.assertEqual(item.status, zb.LicenceStatus.VALID)
        self.assertEqual((item.status_text.zh, item.status_text.en), ("有效", "Valid"))
        self.assertEqual([l.licence_id for l in w.licences()], [VECTORS["licence_id"]])
        details = w.licence(item.licence_id)
        self.assertIn("id_number", [e.key for e in details.elements])

        code = w.present(item.licence_id, zb.Preset.HOTEL_CHECK_IN(), None)
        self.assertTrue(code.qr_text.startswith("ZB1:"))
        self.assertEqual(code.disclosed, ["name", "id_number_masked"])
        self.assertEqual(code.not_after - code.not_before, 60)
        self.assertGreaterEqual(signer.signed, 1, "the Python signer made the device signature")
        qr = w.present(item.licence_id, zb.Preset.AGE_CHECK(), None)
        image = zb.render_qr(qr.qr_text)
        self.assertEqual(len(image.modules), image.width * image.width)
        self.assertIn("<svg", image.svg)

        v = self.verifier()
        self.at(NOW + 5)
        out = v.verify(code.qr_text, policy(accepted_purposes=["hotel-check-in"]))
        self.assertTrue(out.accepted, out.reason)
        self.assertEqual([d.key for d in out.verified.disclosed], ["name", "id_number_masked"])
        self.assertEqual(out.verified.disclosed[0].display, "张三")
        self.assertEqual(out.verified.issuer.name_zh, "北京市公安局")
        self.assertNotIn("11010519491231002X", repr(out))

        # The usage log (privacy dashboard) has the import and both presentations, newest first.
        actions = [u.action for u in w.usage(item.licence_id)]
        self.assertEqual(actions, ["licence.present", "licence.present", "licence.import"])

    def test_engagement_mode_refuses_a_relayed_code(self):
        w, _ = self.holder()
        item = w.import_licence(bytes.fromhex(VECTORS["licence_hex"]))
        bank, rogue = self.verifier(), self.verifier()
        challenge = bank.engage("hotel-check-in")
        self.assertTrue(challenge.text.startswith("ZBE1:"))
        code = w.present_engaged(item.licence_id, zb.Preset.HOTEL_CHECK_IN(), challenge.text)
        rogue.engage("hotel-check-in")
        self.assertEqual(rogue.verify_engaged(code.qr_text, policy()).reason_code, "engagement_mismatch")
        self.at(NOW + 1)
        out = bank.verify_engaged(code.qr_text, policy())
        self.assertTrue(out.accepted, out.reason and out.reason.en)
        self.assertEqual(zb.sandbox_trust_anchors(), True, "a test build pins the sandbox anchors (marked)")

    def test_rejections_have_typed_reasons(self):
        w, _ = self.holder()
        item = w.import_licence(bytes.fromhex(VECTORS["licence_hex"]))
        v = self.verifier()
        code = w.present(item.licence_id, zb.Preset.FULL(), None).qr_text
        self.assertTrue(v.verify(code, policy()).accepted)
        # The same code again: replay.
        again = v.verify(code, policy())
        self.assertEqual((again.accepted, again.reason_code), (False, "replay"))
        self.assertIn("重放", again.reason.zh)
        # A screenshot two minutes later.
        shot = w.present(item.licence_id, zb.Preset.FULL(), None).qr_text
        self.at(NOW + 120)
        self.assertEqual(v.verify(shot, policy()).reason_code, "window_expired")
        self.at(NOW)
        # A purpose the verifier does not accept.
        age = w.present(item.licence_id, zb.Preset.AGE_CHECK(), None).qr_text
        self.assertEqual(
            v.verify(age, policy(accepted_purposes=["hotel-check-in"])).reason_code, "purpose_not_accepted"
        )
        # Truncated text.
        self.assertFalse(v.verify(shot[: len(shot) // 2], policy()).accepted)

        # Every vector case through the bindings, each with a fresh verifier (the replay case twice).
        reasons = set()
        for case in VECTORS["cases"]:
            ver = self.verifier() if case["repeat"] > 1 or case["expect"] == "ok" else v
            p = zb.Policy(
                max_status_age_secs=case["policy"]["max_status_age_secs"],
                max_trust_age_secs=case["policy"]["max_trust_age_secs"],
                clock_skew_secs=case["policy"]["clock_skew_secs"],
                accepted_purposes=case["policy"]["accepted_purposes"],
            )
            self.at(case["now"])
            for _ in range(case["repeat"]):
                out = ver.verify(case["text"], p)
            got = "ok" if out.accepted else out.reason_code
            self.assertEqual(got, case["expect"], case["name"])
            if not out.accepted:
                self.assertTrue(out.reason.zh and out.reason.en, case["name"])
                reasons.add(got)
        for must in ["bad_issuer_signature", "revoked", "digest_mismatch", "deflate_bomb", "cbor_too_deep",
                     "bad_device_signature", "unknown_issuer_key", "expired", "trust_stale"]:
            self.assertIn(must, reasons)

    def test_import_refusals(self):
        # A wallet with its own store-held key: the vector licence is bound to another device.
        w = zb.ZhangbanWallet.open(self.new_store("other"))
        with self.assertRaises(zb.ZhangbanError.Licence) as cm:
            w.import_licence(bytes.fromhex(VECTORS["licence_hex"]))
        self.assertEqual(cm.exception.reason.split(":")[0], "no_trust_list")
        self.load_lists(w)
        with self.assertRaises(zb.ZhangbanError.Licence) as cm:
            w.import_licence(bytes.fromhex(VECTORS["licence_hex"]))
        self.assertEqual(cm.exception.reason.split(":")[0], "device_key_mismatch")
        with self.assertRaises(zb.ZhangbanError.Licence) as cm:
            w.import_licence(b"\xff" * 64)
        self.assertEqual(cm.exception.reason.split(":")[0], "malformed")
        # The right device, but a clock 200 days early: the licence is not valid yet.
        h, _ = self.holder()
        self.at(NOW - 200 * 86400)
        with self.assertRaises(zb.ZhangbanError.Licence) as cm:
            h.import_licence(bytes.fromhex(VECTORS["licence_hex"]))
        self.assertEqual(cm.exception.reason.split(":")[0], "not_yet_valid")
        self.at(NOW)
        # A trust list signed by another key than the pinned root.
        tl = bytearray(bytes.fromhex(VECTORS["trust_list_hex"]))
        tl[-1] ^= 1
        with self.assertRaises(zb.ZhangbanError.Licence) as cm:
            w.update_trust_list(bytes(tl))
        self.assertEqual(cm.exception.reason.split(":")[0], "bad_list_signature")

    def test_grants_and_a_failing_hardware_signer(self):
        w, _ = self.holder()
        item = w.import_licence(bytes.fromhex(VECTORS["licence_hex"]))
        # The recipient's phone: its own wallet; the grant is bound to its device key.
        office = zb.ZhangbanWallet.open(self.new_store("office"))
        self.load_lists(office)
        key = office.device_public_key()
        g = w.grant(
            item.licence_id,
            zb.Preset.CUSTOM(["name", "address"]),
            "朝阳区民政局",
            key,
            "低保申请",
            zb.GrantExpiry.DEFAULT(),
        )
        self.assertTrue(g.text.startswith("ZBG1:"))
        self.assertEqual(g.expires_at - g.issued_at, 30 * 86400)
        self.at(NOW + 60)
        out = office.grant_verifier().verify(g.text, policy())
        self.at(NOW)
        self.assertTrue(out.accepted, out.reason and out.reason.en)
        self.assertEqual([d.key for d in out.grant.disclosed], ["name", "address"])
        # Anyone else's phone (the text forwarded): refused.
        other = zb.ZhangbanWallet.open(self.new_store("other"))
        self.load_lists(other)
        self.assertEqual(other.grant_verifier().verify(g.text, policy()).reason_code, "grant_wrong_recipient")
        with self.assertRaises(zb.ZhangbanError.Validation) as cm:
            w.grant(
                item.licence_id, zb.Preset.FULL(), "x", key, "y",
                zb.GrantExpiry.UNTIL(NOW + 400 * 86400),
            )
        self.assertEqual(cm.exception.field, "expires_at")
        self.at(NOW + 10)
        r = w.revoke_grant(g.grant_id)
        self.at(NOW)
        self.assertEqual(r.revoked_at, NOW + 10)
        self.assertEqual([x.revoked_at for x in w.grants(item.licence_id)], [NOW + 10])
        usage = w.usage(item.licence_id)
        self.assertEqual(usage[1].recipient, "朝阳区民政局")
        self.assertEqual(usage[1].elements, ["name", "address"])
        # The line as a person reads it (用证记录), from the core: who, which licence, which fields by name.
        self.assertIn("朝阳区民政局", usage[1].text.zh)
        self.assertIn("姓名、", usage[1].text.zh)
        self.assertIn("Name, ", usage[1].text.en)
        self.assertTrue(usage[-1].text.zh.startswith("领取"), usage[-1].text.zh)
        self.assertEqual(usage[0].action, "licence.grant.revoke")  # newest first, from the core

        # The platform key refuses to sign (invalidated, busy): its own typed error, worded for the device key
        # (not "check free space", which a storage error tells the person), and no presentation.
        store = self.new_store("hw")
        bad = zb.ZhangbanWallet.with_signer(store, PySigner(VECTORS["keys"]["device_private_hex"], fail=True))
        self.load_lists(bad)
        bad.import_licence(bytes.fromhex(VECTORS["licence_hex"]))
        with self.assertRaises(zb.ZhangbanError.DeviceKeyUnavailable) as refused:
            bad.present(item.licence_id, zb.Preset.AGE_CHECK(), None)
        self.assertIn("设备密钥", refused.exception.text_zh())
        self.assertIn("device key", refused.exception.text_en())
        self.assertNotIn("free space", refused.exception.text_en())
        # The key wants the person's authentication first: the app is told to ask (the same error the vault gives).
        store = self.new_store("hw-auth")
        gated = zb.ZhangbanWallet.with_signer(store, PySigner(VECTORS["keys"]["device_private_hex"], fail="auth"))
        self.load_lists(gated)
        gated.import_licence(bytes.fromhex(VECTORS["licence_hex"]))
        with self.assertRaises(zb.ZhangbanError.NeedsUserAuthentication):
            gated.present(item.licence_id, zb.Preset.AGE_CHECK(), None)


class SandboxListsTest(FfiTestCase):
    """The async exports against the real sandbox platform (the binary tests/run.sh builds)."""

    def setUp(self):
        super().setUp()
        exe = SANDBOX_BIN
        self.assertTrue(exe.exists(), f"{exe} not built (tests/run.sh builds it; CARGO_TARGET_DIR is honoured)")
        self.proc = subprocess.Popen(
            [str(exe), "serve", "--addr", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True
        )
        line = self.proc.stdout.readline()
        self.assertIn("listening on ", line)
        self.url = line.strip().split("listening on ", 1)[1]
        self.proc.stdout.readline()  # the back office's token (not used here)

    def tearDown(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()
        super().tearDown()

    def test_refresh_lists_from_the_platform(self):
        w = zb.ZhangbanWallet.open(self.new_store())
        ages = run(w.refresh_lists(self.url))
        self.assertIsNotNone(ages.trust_sequence)
        self.assertIsNotNone(ages.status_sequence)
        self.assertLess(ages.status_age_secs, 120)
        # Issuance needs a registered device: a typed error naming what to do.
        with self.assertRaises(zb.ZhangbanError.Validation) as cm:
            run(w.request_licence(self.url, "resident_id", None))
        self.assertEqual(cm.exception.field, "device")
        with self.assertRaises(zb.ZhangbanError.Validation) as cm:
            run(w.request_licence(self.url, "passport", None))
        self.assertEqual(cm.exception.field, "licence_type")
        # Plain http is only for a loopback test platform.
        with self.assertRaises(zb.ZhangbanError.Validation):
            run(w.refresh_lists("http://example.com"))

    def test_a_platform_key_is_the_one_registered_and_the_licence_binds_to_it(self):
        # Before ui7 (main e74b46c/2b66fe8): the registration registered the store's own key, so a wallet whose
        # key is the platform's was refused its licence (403 "the device key is not the one this device
        # registered").
        store = self.new_store("hw")
        signer = PySigner(secrets.token_hex(32))
        w = zb.ZhangbanWallet.with_signer(store, signer)
        # The wallet offered the key for the session (ADR 0035): the registration uses it, nobody hands it over.
        cases = zb.ZhangbanCases(store, self.url, None)
        run(cases.register_device("desktop", "python-test", "0"))
        run(w.refresh_lists(self.url))
        item = run(w.request_licence(self.url, "resident_id", None))
        self.assertEqual(w.device_public_key(), signer.public_key())
        self.assertGreaterEqual(signer.signed, 2, "the challenge and the proof of possession")
        before = signer.signed
        w.present(item.licence_id, zb.Preset.AGE_CHECK(), None)
        self.assertEqual(signer.signed, before + 1)
        # Another key offered for this store later is refused, typed.
        with self.assertRaises(zb.ZhangbanError.Validation) as cm:
            zb.ZhangbanWallet.with_signer(store, PySigner(secrets.token_hex(32)))
        self.assertEqual(cm.exception.field, "device_key")
        # A process that did not offer the key (the store opened again, no signer): no second identity; it
        # reads, and refuses to sign, typed.
        path = self.path("hw")
        del w, cases, store
        import gc

        gc.collect()
        again = zb.ZhangbanStore.open(path, self.file_vault())
        reading = zb.ZhangbanWallet.open(again)
        self.assertEqual(reading.device_public_key(), signer.public_key())
        self.assertEqual(len(reading.licences()), 1)
        with self.assertRaises(zb.ZhangbanError.Validation) as cm:
            reading.present(item.licence_id, zb.Preset.AGE_CHECK(), None)
        self.assertEqual(cm.exception.field, "device_key")


class ShardedStatusListsTest(FfiTestCase):
    """Issue 10, finding 15 (the rest; ADR 0039): the sandbox caps a status list shard at two licences, so the
    third licence is the first of shard 1. On main (94fb125) this test fails at once: its sandbox has no
    `--status-list-max` (and, run with that cap by the Rust probe, refused the third licence: 503
    status_list_full)."""

    def setUp(self):
        super().setUp()
        exe = SANDBOX_BIN
        self.assertTrue(exe.exists(), f"{exe} not built (tests/run.sh builds it; CARGO_TARGET_DIR is honoured)")
        self.proc = subprocess.Popen(
            [str(exe), "serve", "--addr", "127.0.0.1:0", "--status-list-max", "2"], stdout=subprocess.PIPE, text=True
        )
        line = self.proc.stdout.readline()
        self.assertIn("listening on ", line)
        self.url = line.strip().split("listening on ", 1)[1]
        self.admin_token = self.proc.stdout.readline().strip()[len("admin token "):]

    def tearDown(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()
        super().tearDown()

    def phone(self, name):
        store = self.new_store(name)
        run(zb.ZhangbanCases(store, self.url, None).register_device("desktop", "python-test", "0"))
        w = zb.ZhangbanWallet.open(store)
        return w, run(w.request_licence(self.url, "resident_id", None))

    def revoke(self, licence_id):
        req = urllib.request.Request(
            f"{self.url}/v1/admin/licences/revoke",
            data=json.dumps({"licence_id": licence_id}).encode(),
            headers={"content-type": "application/json", "x-admin-token": self.admin_token},
        )
        urllib.request.urlopen(req, timeout=10).close()

    def test_a_licence_of_shard_1_is_revoked_there_for_its_holder_and_a_verifier(self):
        a, lic_a = self.phone("a")
        self.phone("b")
        c, lic_c = self.phone("c")  # the first licence of shard 1 (main: 503 status_list_full)
        with urllib.request.urlopen(self.url + "/v1/status-lists", timeout=10) as r:
            self.assertEqual([entry["id"] for entry in json.load(r)["lists"]], [0, 1])
        shown_a = a.present(lic_a.licence_id, zb.Preset.HOTEL_CHECK_IN(), None).qr_text
        shown_c = c.present(lic_c.licence_id, zb.Preset.HOTEL_CHECK_IN(), None).qr_text
        shown_c2 = c.present(lic_c.licence_id, zb.Preset.HOTEL_CHECK_IN(), None).qr_text
        self.revoke(lic_c.licence_id)

        # The holders refresh their own shards: c's licence revoked, a's valid.
        run(a.refresh_lists(self.url))
        run(c.refresh_lists(self.url))
        self.assertEqual(c.licences()[0].status, zb.LicenceStatus.REVOKED)
        self.assertEqual(a.licences()[0].status, zb.LicenceStatus.VALID)
        self.assertIsNotNone(c.cache_info().status_age_secs)

        # A verifier refreshes every shard: shard 1's licence revoked, shard 0's accepted.
        hotel = zb.ZhangbanWallet.open(self.new_store("hotel"))
        run(hotel.refresh_lists(self.url, every_shard=True))
        v = hotel.verifier()
        p = policy(accepted_purposes=["hotel-check-in"])
        self.assertEqual(v.verify(shown_c, p).reason_code, "revoked")
        self.assertTrue(v.verify(shown_a, p).accepted)
        # A phone holding only shard 0 (a holder's refresh, no licence of shard 1): status unknown, never valid.
        other = zb.ZhangbanWallet.open(self.new_store("other"))
        run(other.refresh_lists(self.url))
        out = other.verifier().verify(shown_c2, p)
        self.assertEqual((out.accepted, out.reason_code), (False, "status_unknown"))

if __name__ == "__main__":
    unittest.main()
