"""FFI test: a form draft becomes an application. Fill a draft through the bindings, submit it (case,
outbox operation and the draft marked submitted together), sync it to the sandbox platform, get the
receipt; the profile learns what was typed. Standard library only."""

import json

from ffi import FfiTestCase, run, zb
from test_cases import Sandbox

SELF = zb.self_subject()


def j(v):
    return json.dumps(v, ensure_ascii=False)


def id_number(body17):
    """A GB 11643 citizen ID number: 17 digits and the ISO 7064 MOD 11-2 check character."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body17 + "10X98765432"[sum(int(c) * w for c, w in zip(body17, weights)) % 11]


class DraftSubmitTest(FfiTestCase):
    def setUp(self):
        super().setUp()
        self.sandbox = Sandbox()
        self.addCleanup(self.sandbox.stop)

    def test_a_completed_draft_is_submitted_once_and_gets_a_receipt(self):
        store = self.new_store()
        cases = zb.ZhangbanCases(store, self.sandbox.url, None)
        run(cases.register_device("desktop", "python-test", "0"))
        d = zb.ZhangbanDraft.start(store, SELF, "SJ-002")

        # Not complete yet: a validation error naming the first problem, and nothing queued.
        with self.assertRaises(zb.ZhangbanError.Validation) as cm:
            cases.submit_draft(d)
        self.assertTrue(cm.exception.field, "the error names where to look")
        self.assertEqual(cases.pending_count(), 0)
        self.assertEqual(cases.list(None), [])

        values = {
            "applicant.name": "张三",
            "applicant.id_number": id_number("11010519800101001"),
            "applicant.phone": "13800138000",
            "enterprise.name": "张三便民服务部",
            "enterprise.address": "北京市朝阳区建国路88号1层",
            "enterprise.region": "110105",
            "enterprise.scope": "日用百货零售、便民服务",
            "enterprise.employees": 2,
        }
        for path, v in values.items():
            d.set(path, j(v))
        idcard = store.write_attachment(SELF, "id.jpg", b"\xff\xd8\xff id card scan")
        d.attach_material("M_ID", idcard.id)
        d.commit_material("M_ADDRESS_PROOF")
        self.assertTrue(d.state().complete)

        case = cases.submit_draft(d)
        self.assertEqual(case.state, zb.CaseState.QUEUED)
        self.assertEqual(case.item_codes, ["SJ-002"])
        self.assertEqual(case.draft_id, d.state().id)
        self.assertEqual(d.state().submitted_case, case.id)
        self.assertTrue(all(not f.editable for f in d.state().fields), "read-only once submitted")
        self.assertEqual(cases.pending_count(), 1)
        with self.assertRaises(zb.ZhangbanError.Validation):
            d.set("enterprise.employees", j(3))  # a submitted draft is read-only
        # A second tap submits nothing new.
        self.assertEqual(cases.submit_draft(d).id, case.id)
        self.assertEqual(cases.pending_count(), 1)
        self.assertTrue(any(x.id == d.state().id and x.submitted for x in zb.drafts_list(store, SELF)))

        report = run(cases.sync_now())
        self.assertEqual((report.sent, report.receipts, report.remaining), (1, 1, 0))
        p = cases.view(case.id)
        self.assertEqual(p.summary.state, zb.CaseState.SUBMITTED)
        self.assertTrue(p.summary.receipt.startswith("ZB"), p.summary.receipt)

        # The profile learned the typed person values, so the next form starts filled.
        profile = json.loads(zb.profile_json(store, SELF))
        self.assertEqual(profile["person"]["phone"]["value"], "13800138000")
        self.assertEqual(profile["person"]["name"]["provenance"]["source"], "form")
        nxt = zb.ZhangbanDraft.start(store, SELF, "SW-002")
        self.assertEqual(json.loads(next(f.value for f in nxt.state().fields if f.path == "applicant.name")), "张三")
