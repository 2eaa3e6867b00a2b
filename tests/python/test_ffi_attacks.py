"""FFI attack tests (issue 10, the rest of the kind): a shell, or malware running as the app, calls the plain
exports with the ids of another subject. Every read and write is for one subject: another subject's
attachment never goes into a draft or a case, and an agent's principal's data (attachments, profile, cases,
drafts) is reached only through agent mode (`ZhangbanAgent`), which checks the delegation and audits the
access. Standard library only; the agent tests run against the sandbox platform."""

import json
import os

from ffi import FfiTestCase, run, zb
from test_cases import SandboxCase, submission

SELF = zb.self_subject()
PHOTO = b"\xff\xd8\xff ID card of Li Xiuying 110105194001010018"


def j(v):
    return json.dumps(v, ensure_ascii=False)


class AnotherSubjectsAttachmentTest(FfiTestCase):
    def test_a_family_members_attachment_never_goes_into_the_owners_draft_or_case(self):
        store = self.new_store()
        mum = store.create_subject(zb.SubjectKind.FAMILY, "妈妈")
        photo = store.write_attachment(mum, "id.jpg", PHOTO).id
        mine = store.write_attachment(SELF, "id.jpg", b"\xff\xd8\xff my own").id

        d = zb.ZhangbanDraft.start(store, SELF, "MZ-002")
        with self.assertRaises(zb.ZhangbanError.Validation) as cm:
            d.attach_material("M_ID", photo)
        self.assertEqual(cm.exception.field, "attachment_id")
        self.assertEqual([m.status for m in d.state().materials if m.code == "M_ID"],
                         [m.status for m in zb.ZhangbanDraft.start(store, SELF, "MZ-002").state().materials
                          if m.code == "M_ID"], "the refused attachment left no trace in the draft")
        d.attach_material("M_ID", mine)  # the owner's own attachment still goes in

        cases = zb.ZhangbanCases(store, "http://127.0.0.1:9", None)
        with self.assertRaises(zb.ZhangbanError.Validation) as cm:
            cases.submit(SELF, submission("GA-002", photo))
        self.assertEqual(cm.exception.field, "attachments[0]")
        self.assertEqual((cases.list(None), cases.pending_count()), ([], 0), "nothing was queued")
        # And the other way: the owner's attachment does not go into the family member's case.
        with self.assertRaises(zb.ZhangbanError.Validation):
            cases.submit(mum, submission("GA-002", mine))
        self.assertEqual(cases.submit(SELF, submission("GA-002", mine)).subject, SELF)
        self.assertEqual(cases.pending_count(), 1)


class PrincipalOutsideAgentModeTest(SandboxCase):
    def served_principal(self):
        """An agent serving 李秀英 under her delegation: her ID photo attached, her application submitted."""
        store, cases = self.phone("agent")
        agent = zb.ZhangbanAgent(store)
        run(agent.register(self.sandbox.url, "王帮办", "12110105MB0000002B"))
        li_store, self.li_cases = self.phone("li")
        self.li = li = zb.ZhangbanPrincipal(li_store)
        scope = zb.Scope(items=["MZ-002"], licence_types=[],
                         actions=[zb.Action.FILL, zb.Action.SUBMIT, zb.Action.FOLLOW])
        self.given = given = li.delegate(zb.DelegationRequest(
            agent_certificate=agent.certificate_text(), principal_name="李秀英",
            principal_id_number="110105194001010018", scope=scope, valid_days=None, single_use=False))
        p = agent.scan_delegation(given.text).subject
        d = agent.start_draft(p, "MZ-002")
        for path, v in {
            "applicant.name": "李秀英",
            "applicant.id_number": "110105194001010018",
            "applicant.birth_date": "1940-01-01",
            "applicant.phone": "13900001111",
            "applicant.address": "北京市朝阳区幸福村 8 号",
            "allowance.account": "6217000010001234567",
        }.items():
            d.set(path, j(v))
        photo = agent.attach(p, "id.jpg", PHOTO)
        d.attach_material("M_ID", photo)
        for code in ["M_HOUSEHOLD", "M_SSC"]:
            d.attach_material(code, agent.attach(p, code + ".jpg", b"\xff\xd8\xff " + code.encode()))
        agent.confirm(p, d, None, li.confirm_summary(agent.summary(p, d).zh))
        case = agent.submit(p, d)
        open_draft = agent.start_draft(p, "MZ-002")
        return store, cases, agent, p, photo, case, open_draft.state().id

    def test_a_principals_attachment_never_goes_into_the_agents_own_application(self):
        store, cases, agent, p, photo, _, _ = self.served_principal()
        own = zb.ZhangbanDraft.start(store, SELF, "MZ-002")
        with self.assertRaises(zb.ZhangbanError.Validation):
            own.attach_material("M_ID", photo)
        before = cases.pending_count()
        with self.assertRaises(zb.ZhangbanError.Validation):
            cases.submit(SELF, submission("GA-002", photo))
        self.assertEqual((cases.list(None), cases.pending_count()), ([], before))

    def test_a_principals_data_is_not_reached_through_the_plain_exports(self):
        store, cases, agent, p, photo, case, draft_id = self.served_principal()
        denied = zb.ZhangbanError.PermissionDenied
        out = self.path("out.jpg")
        attacks = {
            "read_attachment": lambda: store.read_attachment(photo),
            "read_attachment_to_path": lambda: store.read_attachment_to_path(photo, out),
            "attachment_info": lambda: store.attachment_info(photo),
            "delete_attachment": lambda: store.delete_attachment(photo),
            "profile_json": lambda: zb.profile_json(store, p),
            "profile_set": lambda: zb.profile_set(store, p, "person.phone", j("13000000000")),
            "catalog_checklist": lambda: zb.catalog_checklist(store, p, "MZ-002"),
            "cases.list": lambda: cases.list(p),
            "drafts_list": lambda: zb.drafts_list(store, p),
            "ZhangbanDraft.resume": lambda: zb.ZhangbanDraft.resume(store, draft_id),
        }
        gave = {}
        for name, attack in attacks.items():
            try:
                gave[name] = repr(attack())[:120]
            except denied as e:
                self.assertEqual(e.missing, "delegation", name)
                self.assertTrue(e.text_zh() and e.text_en(), name)
        self.assertEqual(gave, {}, "these exports reached the principal's data outside agent mode")
        self.assertFalse(os.path.exists(out))
        # Through agent mode, under the delegation, the same data is there (nothing was deleted or planted).
        view = agent.switch_principal(p)
        self.assertEqual([c.id for c in view.cases], [case.id])
        self.assertIn(draft_id, [d.id for d in view.drafts])
        agent.resume_draft(p, draft_id)
        # A case opened by its id (the 待办 home, a notification) shows under the mandate (scope follow, audited)…
        self.assertEqual(cases.view(case.id).summary.id, case.id)
        self.assertEqual(store.audit_entries(None)[-1].action, "agent.access")
        # …and not once she revoked it (before: it still showed her case, values and all).
        self.li.revoke(self.given.id)
        run(self.li_cases.sync_now())
        self.assertEqual(run(cases.sync_now()).revocations_applied, 1)
        with self.assertRaises(denied) as cm:
            cases.view(case.id)
        self.assertEqual(cm.exception.missing, "revoked")

    def test_an_agent_answers_a_principals_supplement_from_the_case_screen_only_under_the_mandate(self):
        """The 待办 home of an agent's phone opens a principal's case by its id; its 补正 (a file and the supply)
        goes through agent mode (scope fill, then submit, audited). Before: both were refused to the agent
        ("acting for a principal needs agent mode"), and the case screen offered rating and complaining, hers alone."""
        store, cases, agent, p, photo, case, _ = self.served_principal()
        denied = zb.ZhangbanError.PermissionDenied
        run(cases.sync_now())
        receipt = cases.view(case.id).summary.receipt
        self.sandbox.clerk("accept", receipt, "--days", "5")
        self.sandbox.clerk("supplement", receipt, "--items", "户口簿复印件", "--due-days", "3")
        run(cases.sync_now())
        v = cases.view(case.id)
        self.assertEqual(v.summary.state, zb.CaseState.SUPPLEMENT_REQUESTED)
        self.assertTrue(v.actions.supplement)
        self.assertEqual((v.actions.rate, v.actions.complain, v.actions.discard), (False, False, False),
                         "rating, complaining and giving up are the principal's own")
        scan = store.write_attachment(p, "household-copy.jpg", b"\xff\xd8\xff household register copy")
        self.assertEqual(scan.subject, p)
        cases.supply(case.id, "{}", [scan.id], "补交户口簿复印件")
        self.assertEqual(store.audit_entries(None)[-1].action, "agent.access")
        run(cases.sync_now())
        run(cases.sync_now())
        self.assertEqual(cases.view(case.id).summary.state, zb.CaseState.IN_REVIEW)
        # Once she revoked the delegation, neither a file for her nor a 补正 goes through.
        self.li.revoke(self.given.id)
        run(self.li_cases.sync_now())
        self.assertEqual(run(cases.sync_now()).revocations_applied, 1)
        for name, call in {
            "write_attachment": lambda: store.write_attachment(p, "x.jpg", b"planted"),
            "supply": lambda: cases.supply(case.id, "{}", [], "x"),
            "resubmit": lambda: cases.resubmit(case.id, None, False, None, None),
        }.items():
            with self.assertRaises(denied, msg=name) as cm:
                call()
            self.assertEqual(cm.exception.missing, "revoked", name)

    def test_a_delegation_scanned_again_does_not_undo_its_revocation(self):
        # The agent keeps a photo of the principal's QR and scans it again after the revocation reached the
        # phone (the platform sends each revocation once), or after the single use was spent.
        store, cases = self.phone("agent")
        agent = zb.ZhangbanAgent(store)
        run(agent.register(self.sandbox.url, "王帮办", "12110105MB0000002B"))
        li_store, li_cases = self.phone("li")
        li = zb.ZhangbanPrincipal(li_store)

        def delegate(single_use):
            scope = zb.Scope(items=["MZ-002"], licence_types=[], actions=[zb.Action.FILL, zb.Action.FOLLOW])
            return li.delegate(zb.DelegationRequest(
                agent_certificate=agent.certificate_text(), principal_name="李秀英",
                principal_id_number="110105194001010018", scope=scope, valid_days=None, single_use=single_use))

        given = delegate(False)
        p = agent.scan_delegation(given.text).subject
        photo = agent.attach(p, "id.jpg", PHOTO)
        kept = agent.start_draft(p, "MZ-002")
        kept.set("applicant.id_number", j("110105194001010018"))
        self.assertIn("110105194001010018", kept.answers_json())
        li.revoke(given.id)
        run(li_cases.sync_now())
        self.assertEqual(run(cases.sync_now()).revocations_applied, 1)
        # A draft object kept from before the revocation (malware as the app, a screen left open) answers nothing
        # from memory: before, `state()` and `answers_json()` still gave her ID number.
        for name, call in {"state": kept.state, "answers_json": kept.answers_json, "checklist": kept.checklist}.items():
            with self.assertRaises(zb.ZhangbanError.PermissionDenied, msg=name) as cm:
                call()
            self.assertEqual(cm.exception.missing, "revoked")
        with self.assertRaises(zb.ZhangbanError.PermissionDenied) as cm:
            agent.scan_delegation(given.text)
        self.assertEqual(cm.exception.missing, "revoked")
        self.assertEqual(agent.principals()[0].status, zb.PrincipalStatus.REVOKED)
        with self.assertRaises(zb.ZhangbanError.PermissionDenied):
            agent.switch_principal(p)
        with self.assertRaises(zb.ZhangbanError.PermissionDenied):
            agent.attach(p, "more.jpg", PHOTO)
        self.assertEqual(run(cases.sync_now()).revocations_applied, 0, "the platform does not send it again")

        # After the retention, her data is erased: the old QR still does not bring her back.
        agent.set_retention_days(0)
        self.assertEqual(agent.sweep(), [p])
        with self.assertRaises(zb.ZhangbanError.PermissionDenied) as cm:
            agent.scan_delegation(given.text)
        self.assertEqual(cm.exception.missing, "revoked")
        self.assertEqual([x.status for x in agent.principals()], [])
        del photo

        # A new delegation (after the old one) serves her again; the one before it cannot replace it.
        newer = delegate(False)
        p2 = agent.scan_delegation(newer.text).subject
        self.assertEqual(agent.switch_principal(p2).line.status, zb.PrincipalStatus.ACTIVE)
        with self.assertRaises(zb.ZhangbanError.PermissionDenied):
            agent.scan_delegation(given.text)
        self.assertEqual(agent.switch_principal(p2).line.status, zb.PrincipalStatus.ACTIVE)



class HugeTextsTest(FfiTestCase):
    def test_a_huge_label_or_attachment_name_is_refused(self):
        # A 9 MB subject label was sealed and kept, and handed back with every list of subjects; a 9 MB file
        # name was kept and would go to the platform with the file.
        store = self.new_store()
        huge = "字" * 3_000_000
        with self.assertRaises(zb.ZhangbanError.Validation) as cm:
            store.create_subject(zb.SubjectKind.FAMILY, huge)
        self.assertEqual(cm.exception.field, "label")
        with self.assertRaises(zb.ZhangbanError.Validation) as cm:
            store.write_attachment(SELF, huge, b"x")
        self.assertEqual(cm.exception.field, "name")
        self.assertEqual(len(store.subjects()), 1, "nothing was created")
        store.create_subject(zb.SubjectKind.FAMILY, "妈" * 200)
        self.assertEqual(store.write_attachment(SELF, "图" * 255, b"x").name, "图" * 255)


class HeldDraftOfALockedStoreTest(FfiTestCase):
    def test_a_shell_cannot_name_an_agent_as_the_editor_of_the_owners_draft(self):
        # Provenance is the core's, never the shell's: an edit of the owner's own draft is hers ("本表填写"). Before,
        # `ZhangbanDraft.set_as_agent(path, value, agent)` recorded any name the caller gave as the agent who
        # entered the value, and the summary she confirms said "由<name>代填". An agent's entries are marked only
        # through agent mode, with the certificate's agent id (test_agent).
        store = self.new_store()
        d = zb.ZhangbanDraft.start(store, SELF, "MZ-002")
        self.assertFalse(hasattr(d, "set_as_agent"), "no export lets the shell declare the editor")
        phone = next(f for f in d.set("applicant.phone", j("13900001111")).fields if f.path == "applicant.phone")
        self.assertEqual(phone.source, zb.ValueSource.FORM)
        self.assertEqual(phone.source_text.zh, "本表填写")

    def test_a_draft_object_kept_across_lock_answers_nothing(self):
        # Malware as the app (or a screen left holding its draft) asks an open draft for its answers after the
        # store was locked: `lock` forgets the keys, and the draft's values must not come out of memory either.
        store = self.new_store(pin="135790")
        d = zb.ZhangbanDraft.start(store, SELF, "MZ-002")
        d.set("applicant.id_number", j("110105194001010018"))
        self.assertIn("110105194001010018", d.answers_json())
        store.lock()
        for name, call in {
            "answers_json": d.answers_json,
            "state": d.state,
            "checklist": d.checklist,
            "set": lambda: d.set("applicant.phone", j("13900001111")),
        }.items():
            with self.assertRaises(zb.ZhangbanError.Locked, msg=name):
                call()
        store.unlock("135790")
        self.assertIn("110105194001010018", d.answers_json(), "the same draft answers again once unlocked")
