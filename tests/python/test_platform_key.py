"""FFI test: a hardware device key reaches every path that signs (issue 13, ADR 0035), through the generated
bindings against the sandbox platform.

The phone's device key is a pure-Python P-256 key (`PySigner`, the foreign `DeviceSigner` trait, as a StrongBox
or Secure Enclave key would be) that the core never holds. The shell offers it once, right after opening the
store (`ZhangbanStore.offer_device_signer`); nothing else is handed a signer. Then the background licence
issuance (`sync_now` after an approval), the old phone's transfer signature (`ZhangbanBackup.sign_transfer`), an
agent's door consent and a principal's delegation sign with it, and the platform accepts. Before ADR 0035 the
first three refused with `Validation(field="device_key")` on such a store. Standard library only."""

import hashlib
import json
import secrets
import urllib.request

from ffi import FfiTestCase, run, zb
from test_cases import Sandbox, submission, uscc
from test_wallet import G, N, PySigner, _add, _mul

SELF = zb.self_subject()


def verifies(public_key, message, der):
    """ECDSA P-256 / SHA-256 verification of an ASN.1 DER signature under a SEC1 public key."""
    assert der[0] == 0x30 and der[1] == len(der) - 2, "a DER sequence"
    ints, i = [], 2
    while i < len(der):
        assert der[i] == 0x02
        n = der[i + 1]
        ints.append(int.from_bytes(der[i + 2 : i + 2 + n], "big"))
        i += 2 + n
    r, s = ints
    if not (0 < r < N and 0 < s < N):
        return False
    q = (int.from_bytes(public_key[1:33], "big"), int.from_bytes(public_key[33:65], "big"))
    e = int.from_bytes(hashlib.sha256(message).digest(), "big")
    w = pow(s, -1, N)
    point = _add(_mul(e * w % N, G), _mul(r * w % N, q))
    return point is not None and point[0] % N == r


class PlatformKeyTest(FfiTestCase):
    def setUp(self):
        super().setUp()
        self.sandbox = Sandbox()
        self.addCleanup(self.sandbox.stop)

    def phone(self, name):
        """A registered phone whose device key is a hardware key: (store, cases, signer)."""
        store = self.new_store(name, self.file_vault(name + ".key"))
        signer = PySigner(secrets.token_hex(32))
        store.offer_device_signer(signer)
        cases = zb.ZhangbanCases(store, self.sandbox.url, None)
        run(cases.register_device("android", "python-" + name, "0"))
        self.assertGreaterEqual(signer.signed, 1, "the registration challenge was signed by the hardware key")
        return store, cases, signer

    def approve_with_licence(self, receipt):
        pid = next(c["case_id"] for c in self.sandbox.clerk("list")["cases"] if c["receipt"] == receipt)
        self.sandbox.clerk("accept", receipt)
        offer = {"type": "business_licence", "elements": {
            "uscc": uscc("92110105MA01HW001"), "company_name": "杭州市西湖区李奶奶便民店", "company_type": "个体工商户",
            "legal_representative": "李奶奶", "registered_capital": "1万元", "established_date": "2026-01-05",
            "business_scope": "便民服务", "address": "杭州市西湖区文三路 1 号",
            "registration_authority": "杭州市西湖区市场监督管理局"}}
        req = urllib.request.Request(
            f"{self.sandbox.url}/admin/cases/{pid}/approve",
            data=json.dumps({"result": "准予登记", "licence": offer}, ensure_ascii=False).encode(),
            headers=self.sandbox.admin_headers(),
        )
        urllib.request.urlopen(req, timeout=10).close()

    def test_the_background_issuance_signs_with_the_hardware_key(self):
        store, cases, signer = self.phone("holder")
        a = store.write_attachment(SELF, "a.jpg", b"x" * 100)
        s = cases.submit(SELF, submission(self.sandbox.catalog_codes()[0], a.id, title="个体工商户设立登记"))
        run(cases.sync_now())
        self.approve_with_licence(cases.view(s.id).summary.receipt)
        before = signer.signed
        # Only the sync runs: it opens its own wallet for the issuance and must sign the proof of possession.
        report = run(cases.sync_now())
        p = cases.view(s.id)
        self.assertEqual(report.licences_imported, 1, p.needed_now)
        self.assertEqual(p.licence_delivery, "imported")
        self.assertGreater(signer.signed, before, "the proof of possession was signed by the hardware key")
        # The licence is bound to that key: a presentation signed by it verifies at another phone.
        wallet = zb.ZhangbanWallet.open(store)
        self.assertEqual(bytes(wallet.device_public_key()), signer.pub)
        run(wallet.refresh_lists(self.sandbox.url))
        shown = wallet.present(p.wallet_licence_id, zb.Preset.FULL(), None)
        hotel = zb.ZhangbanWallet.open(self.new_store("hotel", self.file_vault("hotel.key")))
        run(hotel.refresh_lists(self.sandbox.url))
        policy = zb.default_verify_policy()
        policy.accepted_purposes = [shown.purpose]
        out = hotel.verifier().verify(shown.qr_text, policy)
        self.assertTrue(out.accepted, out.reason)

    def test_the_old_phones_transfer_signature_is_the_hardware_keys_and_the_platform_accepts_it(self):
        old, _, signer = self.phone("old")
        new, new_cases, new_signer = self.phone("new")
        old_b, new_b = zb.ZhangbanBackup(old), zb.ZhangbanBackup(new)
        request = new_b.transfer_request()
        self.assertEqual(request, "ZBTQ1:" + new_signer.pub.hex(), "the new phone shows its hardware key")
        before = signer.signed
        transfer = old_b.sign_transfer(request)
        self.assertEqual(signer.signed, before + 1)
        origin, sig = transfer[len("ZBT1:"):].split(".")
        tbs = json.dumps(["ZB-Transfer-v1", origin, new_signer.pub.hex()], separators=(",", ":")).encode()
        self.assertTrue(verifies(signer.pub, tbs, bytes.fromhex(sig)), "verifies under the old phone's key")
        self.assertFalse(verifies(new_signer.pub, tbs, bytes.fromhex(sig)))
        report = run(new_b.rebind_with_transfer(self.sandbox.url, transfer))
        self.assertEqual(list(report.rebound), [], "accepted by the platform; no licence to re-bind")
        # The move's words come from the core (its plurals), not from the shells.
        self.assertEqual(report.text.en, "Move finished: 0 licences re-issued to this phone, 0 cases moved here.")
        self.assertEqual(report.text.zh, "换机完成：0 张证照已重新签发到本机，0 个办件转到本机。")
        self.assertEqual(zb.picked_text(1, 3).en, "1 file picked; the newest is backup number 3.")

    def test_an_agents_door_consent_and_a_principals_delegation_sign_with_the_hardware_key(self):
        agent_store, _, agent_key = self.phone("agent")
        agent = zb.ZhangbanAgent(agent_store)
        cert = run(agent.register(self.sandbox.url, "王帮办", "12110105MB0000002B"))
        self.assertEqual(bytes(cert.device_key), agent_key.pub, "the certificate names the hardware key")
        line = agent.open_door_intake(zb.DoorIntake(principal_name="孙德明", principal_id_number="110105193805200031"))
        pics = [agent.capture(line.subject, f"p{i}.jpg", bytes([i]) * 512) for i in range(3)]
        summary = agent.door_summary(line.subject, ["MZ-002"], 7)
        before = agent_key.signed
        consented = agent.door_consent(line.subject, zb.DoorConsentInput(
            items=["MZ-002"], id_photo=pics[0], principal_photo=pics[1], signature=pics[2], summary=summary.zh,
            valid_days=7, single_use=False))
        self.assertEqual(agent_key.signed, before + 1, "the consent was signed by the agent's hardware key")
        self.assertEqual(consented.status, zb.PrincipalStatus.ACTIVE)

        # A principal's phone with a hardware key delegates: the agent verifies the delegation offline.
        li_store, _, li_key = self.phone("li")
        li = zb.ZhangbanPrincipal(li_store)
        scope = zb.Scope(items=["MZ-002"], licence_types=[], actions=[zb.Action.FILL, zb.Action.SUBMIT])
        before = li_key.signed
        given = li.delegate(zb.DelegationRequest(
            agent_certificate=agent.certificate_text(), principal_name="李秀英",
            principal_id_number="110105194001010018", scope=scope, valid_days=None, single_use=False))
        self.assertEqual(li_key.signed, before + 1)
        self.assertEqual(agent.scan_delegation(given.text).status, zb.PrincipalStatus.ACTIVE)


if __name__ == "__main__":
    import unittest

    unittest.main()
