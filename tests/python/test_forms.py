"""FFI tests of the catalog and forms, through the generated Python bindings (standard library only):
find a bundle, read the one-time checklist, fill and validate the 新生儿出生一件事 form, resume it."""

import gc
import json
import unittest

from ffi import FfiTestCase, zb

SELF = zb.self_subject()


def j(v):
    return json.dumps(v, ensure_ascii=False)


def field(state, path):
    return next(f for f in state.fields if f.path == path)


def value(d, path):
    """The value of a visible field of draft d (None when empty)."""
    return json.loads(field(d.state(), path).value)


def blocking(state):
    return [i for i in state.issues if i.severity == zb.Severity.ERROR]


class CatalogTest(FfiTestCase):
    def test_search_finds_bundles_and_items_offline(self):
        s = self.new_store()
        hits = zb.catalog_search(s, "上户口", 5)
        self.assertEqual(hits[0].code, "BD-BIRTH")
        self.assertTrue(hits[0].bundle)
        self.assertIn("GA-001", [h.code for h in hits])
        self.assertEqual(zb.catalog_search(s, "开公司", 3)[0].name.zh, "企业开办一件事")
        self.assertEqual(zb.catalog_search(s, "完全无关的查询xyz", 5), [])
        entry = json.loads(zb.catalog_entry_json(s, "BD-BIRTH"))
        self.assertEqual(entry["items"], ["WJ-001", "GA-001", "YB-001", "RS-001"])

    def test_browse_lists_bundles_and_items_by_department(self):
        s = self.new_store()
        b = zb.catalog_browse(s)
        self.assertIn("BD-BIRTH", [h.code for h in b.bundles])
        self.assertTrue(all(h.bundle for h in b.bundles))
        codes = [h.code for d in b.departments for h in d.items]
        self.assertEqual(len(codes), len(set(codes)), "every item once")
        self.assertIn("GA-001", codes)
        self.assertEqual(len({d.name.zh for d in b.departments}), len(b.departments), "one entry per department")
        with self.assertRaises(zb.ZhangbanError.NotFound):
            zb.catalog_entry_json(s, "NO-SUCH")

    def test_checklist_before_any_draft(self):
        s = self.new_store()
        c = zb.catalog_checklist(s, SELF, "BD-BIRTH")
        kinds = {l.key: l.kind for l in c.entries}
        # No licences in this store: the ID card must be attached; the marriage certificate may be
        # replaced by a commitment; the delivery record may follow later; the birth certificate is
        # issued by the bundle itself.
        self.assertEqual(kinds["material:M_ID"], zb.EntryKind.ATTACH)
        self.assertEqual(kinds["material:M_MARRIAGE"], zb.EntryKind.ATTACH_OR_COMMIT)
        self.assertEqual(kinds["material:M_DELIVERY_RECORD"], zb.EntryKind.DEFERRABLE)
        self.assertEqual(kinds["material:M_BIRTH_CERT"], zb.EntryKind.EXEMPT)
        self.assertEqual(kinds["child.name"], zb.EntryKind.FILL)
        self.assertEqual(c.fees, 400.0)
        self.assertEqual((c.fee_text.zh, c.fee_text.en), ("400.00 元", "CNY 400.00"))
        self.assertTrue(c.terms.zh.startswith("收费：400.00 元 · 承诺 "), c.terms.zh)
        self.assertIn("一次性告知", c.text_zh)


class DraftTest(FfiTestCase):
    def fill_birth_bundle(self, d):
        values = {
            "applicant.name": "王晓明",
            "applicant.id_number": "11010519491231002X",
            "applicant.gender": "男",
            "applicant.birth_date": "1949-12-31",
            "applicant.address": "北京市东城区正义路1号",
            "spouse.name": "李华",
            "spouse.id_number": "110105199003074579",
            "marriage.cert_no": "J110105-2019-000123",
            "child.name": "王小宝",
            "child.gender": "女",
            "child.birth_date": "2026-11-01",
            "child.birth_place": "110105",
            "child.hospital": "北京协和医院",
            "child.birth_weight": 3250,
            "child.household": "father",
            "child.relation_to_head": "daughter",
            "child.ssc_bank": "icbc",
            "household.register_no": "110105001234",
            "household.head_name": "王晓明",
            "yb.pay_method": "app",
            "ssc.delivery": "post",
            "ssc.post_address": "北京市东城区正义路1号",
        }
        for path, v in values.items():
            d.set(path, j(v))

    def test_fill_and_validate_the_birth_bundle(self):
        s = self.new_store()
        zb.profile_set(s, SELF, "person.phone", j("13800138000"))
        d = zb.ZhangbanDraft.start(s, SELF, "BD-BIRTH")
        state = d.state()
        summary = state.summary
        self.assertEqual(summary.fields_filled, 1, "the phone came from the profile")
        self.assertGreater(summary.fields_total, 20)
        self.assertEqual(value(d, "applicant.phone"), "13800138000")
        phone = field(state, "applicant.phone")
        self.assertEqual(phone.source, zb.ValueSource.PROFILE)
        self.assertEqual(phone.source_text, zb.Text(zh="来自个人资料", en="from your profile"))
        self.assertTrue(phone.editable)
        self.assertIsNone(phone.lock_reason)
        self.assertEqual(phone.display.zh, "13800138000")

        # Everything wrong at once, each with its path and a message in both languages.
        d.set("applicant.id_number", j("110105194912310021"))
        d.set("child.birth_date", j("2099-01-01"))
        state = d.set("applicant.phone", j("12345"))
        issues = state.issues
        self.assertEqual(field(state, "applicant.phone").display.en, "12345", "the edit returns what to draw")
        self.assertTrue(any(i.code == zb.IssueCode.FORMAT for i in field(state, "applicant.phone").issues))
        paths = {i.path for i in issues}
        for p in ["applicant.id_number", "child.birth_date", "applicant.phone", "child.name", "material:M_ID"]:
            self.assertIn(p, paths)
        idn = next(i for i in issues if i.path == "applicant.id_number")
        self.assertEqual(idn.code, zb.IssueCode.FORMAT)
        self.assertIn("校验码", idn.message.zh)
        self.assertIn("check character", idn.message.en)
        self.assertFalse(state.complete)

        # Wrong kinds of input are typed errors naming the field.
        with self.assertRaises(zb.ZhangbanError.Validation) as cm:
            d.set("child.name", "not json")
        self.assertEqual(cm.exception.field, "child.name")
        with self.assertRaises(zb.ZhangbanError.Validation):
            d.set("no.such.field", j("x"))

        self.fill_birth_bundle(d)
        state = d.set("applicant.phone", j("13800138000"))
        materials = {m.code: m for m in state.materials}
        self.assertTrue(materials["M_BIRTH_CERT"].status.is_PRODUCED_IN_BUNDLE())
        self.assertEqual(materials["M_DELIVERY_RECORD"].status, zb.MaterialStatus.DEFERRABLE(within_working_days=5))
        self.assertTrue(materials["M_ID"].blocks)
        # The actions a screen offers come from the core: nothing for what the bundle issues itself,
        # attach only for an ID card, attach or defer for the delivery record, attach or commit for the
        # marriage certificate.
        A = zb.MaterialAction
        self.assertEqual(materials["M_BIRTH_CERT"].actions, [])
        self.assertEqual(materials["M_ID"].actions, [A.ATTACH])
        self.assertEqual(materials["M_DELIVERY_RECORD"].actions, [A.ATTACH, A.DEFER])
        self.assertEqual(materials["M_MARRIAGE"].actions, [A.ATTACH, A.COMMIT])
        self.assertIn("告知承诺", materials["M_MARRIAGE"].status_text.zh)
        with self.assertRaises(zb.ZhangbanError.Validation):
            d.commit_material("M_ID")  # an ID card cannot be replaced by a commitment
        with self.assertRaises(zb.ZhangbanError.NotFound):
            d.attach_material("M_ID", "no-such-attachment")
        state = d.commit_material("M_MARRIAGE")
        self.assertEqual({m.code: m.actions for m in state.materials}["M_MARRIAGE"], [A.ATTACH, A.CLEAR])
        state = d.defer_material("M_DELIVERY_RECORD")
        remaining = {i.path for i in blocking(state)}
        self.assertEqual(remaining, {"photo", "material:M_ID", "material:M_ID_SPOUSE", "material:M_HOUSEHOLD", "material:M_PHOTO"})
        # The photo field takes a store attachment and satisfies the photo material; the rest are attached.
        photo = s.write_attachment(SELF, "photo.jpg", b"\xff\xd8\xff fake jpeg")
        d.set("photo", j(photo.id))
        for code in ["M_ID", "M_ID_SPOUSE", "M_HOUSEHOLD"]:
            a = s.write_attachment(SELF, code + ".pdf", b"%PDF-1.7 " + code.encode())
            d.attach_material(code, a.id)
        state = d.state()
        self.assertEqual([i.path for i in blocking(state)], [])
        self.assertTrue(state.complete)
        summary = state.summary
        self.assertEqual((summary.materials_exempt, summary.materials_attached, summary.materials_missing), (1, 6, 0))
        self.assertEqual(summary.required_left, 0)
        answers = json.loads(d.answers_json())
        self.assertEqual(answers["child.name"], "王小宝")

        # Close and resume: every edit is there.
        draft_id = d.state().id
        del d
        gc.collect()
        d2 = zb.ZhangbanDraft.resume(s, draft_id)
        self.assertEqual(value(d2, "child.name"), "王小宝")
        self.assertEqual({m.code: m.status for m in d2.state().materials}["M_MARRIAGE"], zb.MaterialStatus.COMMITTED())
        self.assertEqual([x.id for x in zb.drafts_list(s, SELF)], [draft_id])
        c = d2.checklist()
        # Complete: the checklist now lists only conditions and what is covered.
        self.assertIn("material:M_BIRTH_CERT", [l.key for l in c.entries])
        self.assertNotIn(zb.EntryKind.FILL, [l.kind for l in c.entries])
        self.assertNotIn(zb.EntryKind.ATTACH, [l.kind for l in c.entries])
        d2.discard()
        self.assertEqual(zb.drafts_list(s, SELF), [])
        with self.assertRaises(zb.ZhangbanError.NotFound):
            zb.ZhangbanDraft.resume(s, draft_id)

    def test_repeat_groups_and_computed_values_over_ffi(self):
        s = self.new_store()
        d = zb.ZhangbanDraft.start(s, SELF, "BD-COMPANY")
        d.set("enterprise.type", j("llc"))
        d.set("enterprise.capital", j(100))
        d.set("enterprise.shareholders[0].share", j(70))
        state = d.add_instance("enterprise.shareholders")
        self.assertIn("enterprise.shareholders[1].share", [f.path for f in state.fields])
        self.assertNotIn("enterprise.shareholders[2].share", [f.path for f in state.fields])
        d.set("enterprise.shareholders[1].share", j(30))
        self.assertEqual(value(d, "enterprise.share_total"), 100.0)
        total = field(d.state(), "enterprise.share_total")
        self.assertFalse(total.editable)
        self.assertIn("自动计算", total.lock_reason.zh)
        with self.assertRaises(zb.ZhangbanError.Validation):
            d.set("enterprise.share_total", j(5))  # computed
        state = d.remove_instance("enterprise.shareholders", 1)
        self.assertEqual(json.loads(field(state, "enterprise.share_total").value), 70.0)
        self.assertIn("enterprise.share_total", {x.path for x in state.issues})
        state = d.set("enterprise.scope", j("软件开发"))
        scope = field(state, "enterprise.scope")
        self.assertEqual(scope.source, zb.ValueSource.FORM)
        self.assertEqual(zb.drafts_purge(s, 30), 0)


if __name__ == "__main__":
    unittest.main()
