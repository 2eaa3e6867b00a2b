"""FFI test: agent mode (帮办代办) through the generated bindings against the sandbox platform. An agent
registers and gets a certificate; a principal with a phone delegates by QR; the agent scans it, fills and
submits the principal's application (every edit checked and audited in the core), the platform checks the
mandate and returns a receipt; lists never mix principals; the principal revokes, and the agent's next
attempt is PermissionDenied naming what is missing. Standard library only."""

import json

from ffi import run, zb
from test_cases import SandboxCase

SELF = zb.self_subject()


def j(v):
    return json.dumps(v, ensure_ascii=False)


class AgentModeTest(SandboxCase):
    def test_an_agent_serves_a_principal_under_a_delegation_until_it_is_revoked(self):
        agent_store, agent_cases = self.phone("agent")
        agent = zb.ZhangbanAgent(agent_store)
        cert = run(agent.register(self.sandbox.url, "王帮办", "12110105MB0000002B"))
        self.assertEqual(cert.org_code, "12110105MB0000002B")
        self.assertEqual(agent.card().certificate, cert)

        li_store, li_cases = self.phone("li")
        li = zb.ZhangbanPrincipal(li_store)
        qr = agent.certificate_text()
        self.assertTrue(qr.startswith("ZBA1:"))
        self.assertEqual(li.read_agent_certificate(qr).cert_id, cert.cert_id)
        scope = zb.Scope(items=["MZ-002"], licence_types=[], actions=[zb.Action.FILL, zb.Action.SUBMIT, zb.Action.FOLLOW, zb.Action.RECEIVE_RESULTS])
        given = li.delegate(zb.DelegationRequest(agent_certificate=qr, principal_name="李秀英", principal_id_number="110105194001010018", scope=scope, valid_days=None, single_use=False))
        self.assertTrue(given.text.startswith("ZBD1:"))

        line = agent.scan_delegation(given.text)
        self.assertEqual(line.name, "李秀英")
        self.assertEqual(line.status, zb.PrincipalStatus.ACTIVE)
        home = agent.principals()
        self.assertEqual([p.subject for p in home], [line.subject])
        self.assertTrue(home[0].needs_now.zh and home[0].needs_now.en)

        # Outside agent mode the principal's data is not reachable: a plain draft for their subject.
        with self.assertRaises(zb.ZhangbanError.PermissionDenied) as cm:
            zb.ZhangbanDraft.start(agent_store, line.subject, "MZ-002")
        self.assertEqual(cm.exception.missing, "delegation")
        # Out of scope: another item.
        with self.assertRaises(zb.ZhangbanError.PermissionDenied) as cm:
            agent.start_draft(line.subject, "GA-002")
        self.assertEqual(cm.exception.missing, "item:GA-002")
        self.assertIn("GA-002", cm.exception.text_zh())

        d = agent.start_draft(line.subject, "MZ-002")
        for path, v in {
            "applicant.name": "李秀英",
            "applicant.id_number": "110105194001010018",
            "applicant.birth_date": "1940-01-01",
            "applicant.phone": "13900001111",
            "applicant.address": "北京市朝阳区幸福村 8 号",
            "allowance.account": "6217000010001234567",
        }.items():
            d.set(path, j(v))
        # Each of her values is marked as entered by this agent, under the certificate's agent id (not a name
        # the shell declares): what her summary and her phone's activity show.
        phone = next(f for f in d.state().fields if f.path == "applicant.phone")
        self.assertEqual(phone.source, zb.ValueSource.AGENT)
        self.assertEqual(phone.provenance.agent, cert.agent_id)
        self.assertIn(cert.agent_id, phone.source_text.zh)
        for code in ["M_ID", "M_HOUSEHOLD", "M_SSC"]:
            d.attach_material(code, agent.attach(line.subject, code + ".jpg", b"\xff\xd8\xff scan " + code.encode()))
        summary = agent.summary(line.subject, d)
        self.assertIn("高龄津贴", summary.zh)
        agent.confirm(line.subject, d, None, li.confirm_summary(summary.zh))
        case = agent.submit(line.subject, d)
        self.assertEqual(case.subject, line.subject, "the case says whose it is")
        # The agent's own list and the principal's never mix.
        self.assertEqual(agent_cases.list(None), [])
        view = agent.switch_principal(line.subject)
        self.assertEqual([c.id for c in view.cases], [case.id])

        report = run(agent_cases.sync_now())
        self.assertEqual(report.receipts, 1)
        self.assertTrue(agent.switch_principal(line.subject).cases[0].receipt.startswith("ZB"))

        # A second application begun for her: on the agent's 待办 home.
        agent.start_draft(line.subject, "MZ-002")
        rem = zb.ZhangbanReminders(agent_store)
        self.assertEqual([d.subject for d in rem.home().drafts], [line.subject])

        # The principal's phone hears of it, revokes; the agent's next sync brings the revocation.
        run(li_cases.sync_now())
        self.assertTrue(any(e.kind == "submitted" for e in li.activity()))
        # Her page tells the submission once: the platform's receipt takes the place of the access the agent's phone
        # reported for it (before, "王帮办提交了…" and "王帮办为您提交了…回执号…" both, as two things done).
        kinds = [e.kind for e in li.activity()]
        self.assertIn("access:submit", kinds)
        told = [a.text.zh for a in li.home().activity if "提交" in a.text.zh]
        self.assertEqual(len(told), 1, told)
        self.assertTrue(told[0].startswith("王帮办为您提交了“高龄津贴申领”。回执号 ZB"), told)
        li.revoke(given.id)
        self.assertEqual(run(li_cases.sync_now()).revocations_sent, 1)
        self.assertEqual(run(agent_cases.sync_now()).revocations_applied, 1)
        with self.assertRaises(zb.ZhangbanError.PermissionDenied) as cm:
            agent.switch_principal(line.subject)
        self.assertEqual(cm.exception.missing, "revoked")
        self.assertEqual(agent.principals()[0].status, zb.PrincipalStatus.REVOKED)

        # Off the agent's 待办 home at once, not at the retention sweep a week later (ADR 0043): one line saying
        # so and what to hand back; none of her drafts or cases; no reminder planned for her.
        home = rem.home()
        mine = [n for n in home.needs if n.subject == line.subject]
        self.assertEqual([n.id for n in mine], ["ended:" + line.subject])
        self.assertEqual(mine[0].title.zh, "委托已撤销")
        self.assertIn("1 件办件尚未办结：请把代收的材料交还委托人", mine[0].body.zh)
        self.assertIn("1 case is still under way", mine[0].body.en)
        self.assertEqual([c for c in home.cases if c.subject == line.subject], [])
        self.assertEqual([d for d in home.drafts if d.subject == line.subject], [])
        self.assertEqual([r.id for r in rem.plan().pending if r.subject == line.subject], [])
        p = agent.principals()[0]
        self.assertEqual((p.needs_action, p.open_drafts, p.queued), (0, 0, 0))
        self.assertTrue(p.needs_now.zh.startswith("委托人已撤销委托，不能再为李秀英办理。1 件办件尚未办结"), p.needs_now)

    def test_the_principal_sees_each_access_the_agent_made(self):
        """Issue 11: the agent's accesses (allowed and refused) reach the principal's phone through the platform,
        in order, each once, worded by the core in zh and en; after she revokes, the refused attempt too."""
        agent_store, agent_cases = self.phone("agent")
        agent = zb.ZhangbanAgent(agent_store)
        run(agent.register(self.sandbox.url, "王芳", "12110105MB0000002B"))
        li_store, li_cases = self.phone("li")
        li = zb.ZhangbanPrincipal(li_store)
        scope = zb.Scope(items=["MZ-002"], licence_types=[], actions=[zb.Action.FILL, zb.Action.FOLLOW])
        given = li.delegate(zb.DelegationRequest(agent_certificate=agent.certificate_text(), principal_name="李秀英",
                                                 principal_id_number="110105194001010018", scope=scope, valid_days=None,
                                                 single_use=False))
        line = agent.scan_delegation(given.text)
        agent.switch_principal(line.subject)
        with self.assertRaises(zb.ZhangbanError.PermissionDenied):
            agent.start_draft(line.subject, "GA-002")
        agent.start_draft(line.subject, "MZ-002")
        report = run(agent_cases.sync_now())
        self.assertEqual(report.accesses_reported, 3)
        run(li_cases.sync_now())
        kinds = [e.kind for e in reversed(li.activity())]
        self.assertEqual(kinds, ["access:follow", "access:denied:fill", "access:fill"])
        texts = [a.text for a in li.home().activity]
        self.assertEqual(texts[2].zh, "王芳查看了您的办件。")
        self.assertEqual(texts[1].en, "王芳 tried to fill in the form of “居民身份证换领” (refused: you did not include this service).")
        self.assertEqual(texts[0].zh, "王芳填写了“高龄津贴申领”的表单。")
        # Synced again: nothing new, nothing twice.
        self.assertEqual(run(agent_cases.sync_now()).accesses_reported, 0)
        run(li_cases.sync_now())
        self.assertEqual(len(li.activity()), 3)
        li.revoke(given.id)
        run(li_cases.sync_now())
        self.assertEqual(run(agent_cases.sync_now()).revocations_applied, 1)
        with self.assertRaises(zb.ZhangbanError.PermissionDenied):
            agent.switch_principal(line.subject)
        run(agent_cases.sync_now())
        run(li_cases.sync_now())
        newest = li.home().activity[0]
        self.assertEqual(newest.entry.missing, "revoked")
        self.assertEqual(newest.text.zh, "王芳尝试查看您的办件（已拒绝：委托已撤销）。")

    def test_a_relatives_phone_delegates_at_the_family_assurance(self):
        agent_store, _ = self.phone("agent")
        agent = zb.ZhangbanAgent(agent_store)
        run(agent.register(self.sandbox.url, "王帮办", "12110105MB0000002B"))
        daughter_store, _ = self.phone("daughter")
        daughter = zb.ZhangbanPrincipal(daughter_store)
        scope = zb.Scope(items=["MZ-002"], licence_types=[], actions=[zb.Action.FILL, zb.Action.SUBMIT])
        def for_mother(relative):
            return zb.DelegationRequest(agent_certificate=agent.certificate_text(), principal_name="李秀英", principal_id_number="110105194001010018",
                                        scope=scope, valid_days=None, single_use=False, relative=relative)
        given = daughter.delegate(for_mother(zb.Relative(name="李小红", relation="女儿")))
        line = agent.scan_delegation(given.text)
        self.assertEqual(line.assurance, zb.Assurance.FAMILY)
        self.assertEqual(line.assurance_text.en, "signed by a relative's phone (lower assurance)")
        with self.assertRaises(zb.ZhangbanError.Validation) as cm:
            daughter.delegate(for_mother(zb.Relative(name="", relation="女儿")))
        self.assertEqual(cm.exception.field, "relative.name")

    def test_a_principal_shares_chosen_elements_of_her_licence_into_the_delegation(self):
        """ZBD1: version 2 through the bindings: the principal's phone offers her licence's elements (name and
        ID number chosen at first), the sentence she reads names exactly the elements chosen, the signed
        scope carries them, the agent's phone checks the shared licence offline and fills her draft from it
        and from nothing else; a relative's phone cannot share; her page says what the delegation covers."""
        agent_store, _ = self.phone("agent")
        agent = zb.ZhangbanAgent(agent_store)
        run(agent.register(self.sandbox.url, "王帮办", "12110105MB0000002B"))
        run(zb.ZhangbanWallet.open(agent_store).refresh_lists(self.sandbox.url))
        li_store, _ = self.phone("li")
        lic = run(zb.ZhangbanWallet.open(li_store).request_licence(self.sandbox.url, "resident_id", None))
        li = zb.ZhangbanPrincipal(li_store)
        cert = agent.certificate_text()

        choices = li.delegation_choices(cert)
        self.assertIn("平台已核验", choices.agent.text.zh)
        [card] = choices.licences
        self.assertEqual(card.licence_id, lic.licence_id)
        self.assertEqual([e.key for e in card.elements if e.suggested], ["name", "id_number"])
        self.assertNotIn("age_over_18", [e.key for e in card.elements], "derived elements are not offered")
        self.assertTrue(choices.own_name and choices.own_id_number, "her name and ID number from her ID card")
        self.assertEqual(choices.items[0].code, "RS-001", "items offered at home first")
        self.assertEqual(choices.at_home, 2, "the first page: the items offered at home")
        self.assertEqual(choices.more_items.zh, f"另有 {len(choices.items) - 2} 项可在网上办的事项")

        scope = zb.Scope(items=["MZ-002"], licence_types=[], actions=[zb.Action.FILL, zb.Action.SUBMIT])

        def request(elements, relative=None):
            return zb.DelegationRequest(
                agent_certificate=cert, principal_name=choices.own_name, principal_id_number=choices.own_id_number,
                scope=scope, valid_days=None, single_use=False,
                shares=[zb.LicenceShare(licence_id=lic.licence_id, elements=elements)], relative=relative)

        preview = li.delegation_preview(request(["name", "id_number"]))
        self.assertIn("可以使用：居民身份证的姓名、公民身份号码。", preview.text.zh)
        self.assertIn("住址", li.delegation_preview(request(["name", "id_number", "address"])).text.zh)
        self.assertTrue(preview.until.zh.startswith("有效期 30 天"))

        given = li.delegate(request(["name", "id_number"]))
        self.assertEqual(given.scope.licence_types, ["resident_id"])
        self.assertEqual(given.scope.elements, [zb.LicenceElements(licence_type="resident_id", elements=["name", "id_number"])])
        line = agent.scan_delegation(given.text)
        self.assertEqual(line.name, choices.own_name)

        # Her draft on the agent's phone: the shared name and ID number filled, locked; her address not.
        d = agent.start_draft(line.subject, "MZ-002")
        fields = {f.path: f for f in d.state().fields}
        self.assertEqual(json.loads(fields["applicant.name"].value), choices.own_name)
        self.assertEqual(json.loads(fields["applicant.id_number"].value), choices.own_id_number)
        self.assertFalse(fields["applicant.name"].editable)
        self.assertIn(fields["applicant.address"].value, (None, "", "null", '""'), "the address was not shared")

        # A relative's phone cannot share the principal's licences.
        with self.assertRaises(zb.ZhangbanError.PermissionDenied) as cm:
            li.delegate(request(["name"], zb.Relative(name="李小红", relation="女儿")))
        self.assertEqual(cm.exception.missing, "shared")

        home = li.home()
        self.assertEqual(home.summary.en, "1 agent is authorised now. Tap “Revoke” when you no longer need it.")
        [entry] = home.delegations
        self.assertTrue(entry.active)
        self.assertEqual(entry.covers.zh, "可以代您填报、提交：高龄津贴申领。可以使用：居民身份证的姓名、公民身份号码。")
