"""FFI tests of applications (办件) through the generated Python bindings: submit -> receipt -> events,
against the sandbox platform binary started as a subprocess (standard library only)."""

import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

from ffi import SANDBOX_BIN, FfiTestCase, run, zb

SELF = zb.self_subject()
SANDBOX = SANDBOX_BIN


class Sandbox:
    """The sandbox platform as a child process (`serve --addr 127.0.0.1:0`), its URL read from stdout."""

    def __init__(self, addr="127.0.0.1:0", db=None):
        if not SANDBOX.exists():
            raise RuntimeError(f"{SANDBOX} is missing: build it with `cargo build -p zhangban-sandbox`")
        args = [str(SANDBOX), "serve", "--addr", addr]
        if db:
            args += ["--db", db]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"sandbox did not start: {line!r}")
        self.url = line[len("listening on "):]
        self.addr = self.url[len("http://"):]
        # The back office answers loopback callers with this token only.
        self.admin_token = self.proc.stdout.readline().strip()[len("admin token "):]

    def admin_headers(self):
        return {"content-type": "application/json", "x-admin-token": self.admin_token}

    def clerk(self, *args):
        env = dict(os.environ, ZHANGBAN_SANDBOX_ADMIN_TOKEN=self.admin_token)
        out = subprocess.run(
            [str(SANDBOX), "clerk", "--url", self.url, *args], capture_output=True, text=True, timeout=30, env=env
        )
        if out.returncode != 0:
            raise AssertionError(f"clerk {args}: {out.stderr}")
        return json.loads(out.stdout)

    def catalog_codes(self):
        with urllib.request.urlopen(self.url + "/v1/catalog", timeout=10) as r:
            return [item["id"] for item in json.load(r)["items"] if item.get("entry") == "item"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc.stdout.close()



class SandboxCase(FfiTestCase):
    """A test against its own sandbox platform; `phone(name)` is a store registered there, with its cases."""

    def setUp(self):
        super().setUp()
        self.sandbox = Sandbox()
        self.addCleanup(self.sandbox.stop)

    def phone(self, name):
        store = self.new_store(name, self.file_vault(name + ".key"))
        cases = zb.ZhangbanCases(store, self.sandbox.url, None)
        run(cases.register_device("desktop", "python-" + name, "0"))
        return store, cases

class Listener(zb.CaseListener):
    def __init__(self):
        self.lock = threading.Lock()
        self.notices = []

    def on_notice(self, notice):
        with self.lock:
            self.notices.append(notice)

    def kinds(self):
        with self.lock:
            return [n.kind for n in self.notices]


def uscc(first17):
    """A unified social credit code: 17 characters and the GB 32100 check character."""
    chars = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    c = 31 - sum(chars.index(ch) * w for ch, w in zip(first17, weights)) % 31
    return first17 + chars[0 if c == 31 else c]


def submission(code, attachment_id, title="居住证申领"):
    return zb.Submission(
        item_codes=[code],
        title=title,
        values=json.dumps({"name": "李奶奶", "address": "杭州市西湖区"}, ensure_ascii=False),
        attachments=[attachment_id],
        deferred_materials=[],
    )


def hold_port(addr):
    """A socket bound to `addr` ("host:port") that does not listen: connections to it are refused, and the port
    stays ours. Retried for a moment while the stopped sandbox's listener closes."""
    host, port = addr.rsplit(":", 1)
    for _ in range(100):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, int(port)))
            return s
        except OSError:
            s.close()
            time.sleep(0.05)
    raise AssertionError(f"{addr} could not be held while the platform was away")


def china_date(unix_secs):
    """The date in China (UTC+8, no daylight saving) at `unix_secs`: the day the core reckons working days on."""
    return time.strftime("%Y-%m-%d", time.gmtime(unix_secs + 8 * 3600))


class CasesTest(FfiTestCase):
    def setUp(self):
        super().setUp()
        self.sandbox = Sandbox()
        self.addCleanup(self.sandbox.stop)

    def test_submit_receipt_then_clerk_events_reach_the_listener(self):
        # One day for the phone and the clerk: the phone's clock held at now, the clerk's actions dated on its
        # day (China time). With the two clocks apart, a run across midnight (16:00 UTC) counted one working day
        # less on the phone than the clerk promised, and the 5 and 3 below failed.
        clock = zb.ZhangbanTestClock(int(time.time()))
        day = china_date(clock.now())
        store = self.new_store(clock=clock)
        listener = Listener()
        cases = zb.ZhangbanCases(store, self.sandbox.url, listener)
        run(cases.register_device("desktop", "python-test", "0"))
        photo = store.write_attachment(SELF, "photo.jpg", os.urandom(50_000))
        code = self.sandbox.catalog_codes()[0]
        s = cases.submit(SELF, submission(code, photo.id))
        self.assertEqual(s.state, zb.CaseState.QUEUED)
        self.assertIsNone(s.receipt)
        self.assertEqual(cases.pending_count(), 1)
        # Whose case it is, and the list scoped to a subject.
        self.assertEqual(s.subject, SELF)
        self.assertEqual([c.id for c in cases.list(SELF)], [s.id])
        self.assertEqual([c.id for c in cases.list(None)], [s.id])
        self.assertEqual(cases.list("someone-else"), [])

        report = run(cases.sync_now())
        self.assertEqual((report.sent, report.receipts, report.remaining, report.offline), (1, 1, 0, False))
        p = cases.view(s.id)
        self.assertEqual(p.summary.state, zb.CaseState.SUBMITTED)
        receipt = p.summary.receipt
        self.assertTrue(receipt.startswith("ZB"), receipt)
        self.assertIn(zb.NoticeKind.RECEIPT, listener.kinds())

        # The clerk accepts at the counter by receipt number; the event arrives with the next sync.
        self.sandbox.clerk("accept", receipt, "--days", "5", "--clerk", "王芳", "--on", day)
        report = run(cases.sync_now())
        self.assertGreaterEqual(report.events_applied, 1)
        p = cases.view(s.id)
        self.assertEqual(p.summary.state, zb.CaseState.ACCEPTED)
        self.assertIsNotNone(p.promised_date)
        self.assertEqual(p.working_days_left, 5)
        self.assertFalse(p.overdue)
        self.assertTrue(any(t.actor == "clerk:王芳" for t in p.timeline))
        self.assertIn(zb.NoticeKind.STATE_CHANGED, listener.kinds())

        # A supplement is requested; the citizen supplies it; the platform confirms.
        self.sandbox.clerk("supplement", receipt, "--items", "身份证复印件", "--due-days", "3", "--on", day)
        run(cases.sync_now())
        p = cases.view(s.id)
        self.assertEqual(p.summary.state, zb.CaseState.SUPPLEMENT_REQUESTED)
        self.assertEqual([n.kind for n in p.needed_now], [zb.NeedKind.SUPPLEMENT])
        self.assertEqual(p.needed_now[0].working_days_left, 3)
        self.assertIn("身份证复印件", p.needed_now[0].text.zh)
        self.assertTrue(p.needed_now[0].text.en.startswith("Supply"))
        self.assertTrue(p.actions.supplement and not p.actions.resubmit and p.actions.complain)
        self.assertEqual(p.summary.state_text.zh, "待补正")
        self.assertIn(zb.NoticeKind.SUPPLEMENT_REQUESTED, listener.kinds())
        scan = store.write_attachment(SELF, "id-copy.jpg", os.urandom(3_000))
        cases.supply(s.id, '{"id_copy": true}', [scan.id], "补交身份证复印件")
        run(cases.sync_now())
        run(cases.sync_now())
        self.assertEqual(cases.view(s.id).summary.state, zb.CaseState.IN_REVIEW)

    def test_an_approved_licence_lands_in_the_wallet_by_sync_alone(self):
        store = self.new_store()
        listener = Listener()
        cases = zb.ZhangbanCases(store, self.sandbox.url, listener)
        run(cases.register_device("desktop", "python-test", "0"))
        a = store.write_attachment(SELF, "a.jpg", b"x" * 100)
        s = cases.submit(SELF, submission(self.sandbox.catalog_codes()[0], a.id, title="个体工商户设立登记"))
        run(cases.sync_now())
        receipt = cases.view(s.id).summary.receipt
        pid = next(c["case_id"] for c in self.sandbox.clerk("list")["cases"] if c["receipt"] == receipt)
        self.sandbox.clerk("accept", receipt)
        offer = {"type": "business_licence", "elements": {
            "uscc": uscc("92110105MA01XB001"), "company_name": "杭州市西湖区李奶奶便民店", "company_type": "个体工商户",
            "legal_representative": "李奶奶", "registered_capital": "1万元", "established_date": "2026-01-05",
            "business_scope": "便民服务", "address": "杭州市西湖区文三路 1 号",
            "registration_authority": "杭州市西湖区市场监督管理局"}}
        req = urllib.request.Request(
            f"{self.sandbox.url}/admin/cases/{pid}/approve",
            data=json.dumps({"result": "准予登记", "licence": offer}, ensure_ascii=False).encode(),
            headers=self.sandbox.admin_headers(),
        )
        urllib.request.urlopen(req, timeout=10).close()
        wallet = zb.ZhangbanWallet.open(store)
        self.assertEqual(wallet.licences(), [])
        # One sync run applies the approval and fetches the licence into the wallet; nothing else is called.
        report = run(cases.sync_now())
        self.assertEqual(report.licences_imported, 1)
        p = cases.view(s.id)
        self.assertEqual((p.summary.state, p.licence_delivery), (zb.CaseState.APPROVED, "imported"))
        held = wallet.licences()
        self.assertEqual([(x.licence_id, x.licence_type) for x in held], [(p.wallet_licence_id, "business_licence")])
        self.assertEqual(listener.kinds().count(zb.NoticeKind.LICENCE_ISSUED), 2)
        self.assertEqual(run(cases.sync_now()).licences_imported, 0)
        self.assertEqual(len(wallet.licences()), 1)

        # A licence the platform refuses to issue (the clerk mistyped the credit code's check character)
        # is shown on the case instead.
        s2 = cases.submit(SELF, submission(self.sandbox.catalog_codes()[0], a.id, title="个体工商户设立登记"))
        run(cases.sync_now())
        receipt2 = cases.view(s2.id).summary.receipt
        pid2 = next(c["case_id"] for c in self.sandbox.clerk("list")["cases"] if c["receipt"] == receipt2)
        self.sandbox.clerk("accept", receipt2)
        good = uscc("92110105MA01XB002")
        offer["elements"]["uscc"] = good[:17] + ("1" if good.endswith("0") else "0")
        req = urllib.request.Request(
            f"{self.sandbox.url}/admin/cases/{pid2}/approve",
            data=json.dumps({"licence": offer}, ensure_ascii=False).encode(),
            headers=self.sandbox.admin_headers(),
        )
        urllib.request.urlopen(req, timeout=10).close()
        report = run(cases.sync_now())
        self.assertEqual(report.licences_imported, 0)
        p2 = cases.view(s2.id)
        self.assertEqual((p2.licence_delivery, p2.wallet_licence_id), ("refused", None))
        self.assertEqual([n.kind for n in p2.needed_now], [zb.NeedKind.LICENCE])
        self.assertIn("uscc", p2.needed_now[0].text.en)
        self.assertIn(zb.NoticeKind.REFUSED, listener.kinds())
        self.assertEqual(len(wallet.licences()), 1)

    def test_refused_submission_is_quarantined_with_its_reason(self):
        store = self.new_store()
        cases = zb.ZhangbanCases(store, self.sandbox.url, None)
        run(cases.register_device("desktop", "python-test", "0"))
        a = store.write_attachment(SELF, "a.jpg", b"x" * 100)
        bad = cases.submit(SELF, submission("zz-no-such-item", a.id))
        good = cases.submit(SELF, submission(self.sandbox.catalog_codes()[0], a.id))
        report = run(cases.sync_now())
        self.assertEqual((report.receipts, report.quarantined, report.remaining), (1, 1, 0))
        q = cases.quarantined()
        self.assertEqual([(x.case_id, x.status) for x in q], [(bad.id, 422)])
        # The platform's reason in both languages, each on its own (never "中文 / English" joined).
        self.assertIn("zz-no-such-item", q[0].reason.en)
        self.assertIn("zz-no-such-item", q[0].reason.zh)
        self.assertNotIn(" / ", q[0].reason.zh)
        self.assertNotEqual(q[0].reason.zh, q[0].reason.en)
        self.assertIn(q[0].reason.zh, cases.view(bad.id).needed_now[0].text.zh)
        self.assertEqual(cases.view(bad.id).needed_now[0].kind, zb.NeedKind.FIX)
        self.assertIsNotNone(cases.view(good.id).summary.receipt)

    def test_refused_submission_is_fixed_and_sent_again_or_given_up(self):
        store = self.new_store()
        cases = zb.ZhangbanCases(store, self.sandbox.url, None)
        run(cases.register_device("desktop", "python-test", "0"))
        code = self.sandbox.catalog_codes()[0]
        a = store.write_attachment(SELF, "a.jpg", b"x" * 100)
        fixme = cases.submit(SELF, submission("zz-no-such-item", a.id))
        giveup = cases.submit(SELF, submission("zz-also-unknown", a.id))
        report = run(cases.sync_now())
        self.assertEqual((report.quarantined, report.receipts), (2, 0))

        # A fix that is itself invalid is refused on the phone, naming the field; nothing changes.
        with self.assertRaises(zb.ZhangbanError.Validation) as e:
            cases.resubmit(fixme.id, "[1]", False, None, None)
        self.assertEqual(e.exception.field, "values")
        self.assertEqual(len(cases.quarantined()), 2)

        # Choose an item the platform offers, correct one field, attach a new photo: sent again.
        photo = store.write_attachment(SELF, "clear.jpg", os.urandom(5_000))
        s = cases.resubmit(fixme.id, json.dumps({"address": "杭州市西湖区文三路 1 号"}), False, [code], [photo.id])
        self.assertEqual((s.state, s.problem, s.item_codes), (zb.CaseState.QUEUED, None, [code]))
        self.assertEqual(cases.pending_count(), 1)
        self.assertNotIn(fixme.id, [q.case_id for q in cases.quarantined()])
        report = run(cases.sync_now())
        self.assertEqual((report.receipts, report.quarantined, report.remaining), (1, 0, 0))
        p = cases.view(fixme.id)
        self.assertEqual(p.summary.state, zb.CaseState.SUBMITTED)
        self.assertTrue(p.summary.receipt.startswith("ZB"))
        self.assertEqual(p.needed_now, [])
        self.assertTrue(any("重新提交" in t.note.zh for t in p.timeline))
        on_platform = self.sandbox.clerk("show", self._platform_id(p.summary.receipt))
        self.assertEqual(on_platform["item_codes"], [code])

        # The other one is given up: withdrawn, nothing left to send, no longer asking for a fix.
        s = cases.discard_refused(giveup.id, "不再办理")
        self.assertEqual(s.state, zb.CaseState.WITHDRAWN)
        self.assertEqual(cases.quarantined(), [])
        self.assertEqual(cases.view(giveup.id).needed_now, [])
        with self.assertRaises(zb.ZhangbanError.Validation):
            cases.resubmit(giveup.id, None, False, [code], None)
        self.assertEqual(self.sandbox.clerk("stats")["cases"], 1)

    def _platform_id(self, receipt):
        return next(c["case_id"] for c in self.sandbox.clerk("list")["cases"] if c["receipt"] == receipt)

    def test_validation_errors_name_the_field(self):
        store = self.new_store()
        cases = zb.ZhangbanCases(store, self.sandbox.url, None)
        a = store.write_attachment(SELF, "a.jpg", b"x")
        bad = submission("hz-001", a.id)
        bad.values = "[1, 2]"
        with self.assertRaises(zb.ZhangbanError.Validation) as e:
            cases.submit(SELF, bad)
        self.assertEqual(e.exception.field, "values")
        self.assertIn("对象", e.exception.text_zh())
        self.assertEqual(cases.list(None), [])


class RatingAndComplaintTest(FfiTestCase):
    """好差评 and 办不成事 反映 through the FFI, against the real sandbox platform."""

    def setUp(self):
        super().setUp()
        self.sandbox = Sandbox()
        self.addCleanup(self.sandbox.stop)

    def _submitted(self, cases, store, n):
        code = self.sandbox.catalog_codes()[0]
        a = store.write_attachment(SELF, "a.jpg", b"x" * 200)
        ids = [cases.submit(SELF, submission(code, a.id, title=f"居住证申领 {i}")).id for i in range(n)]
        self.assertEqual(run(cases.sync_now()).receipts, n)
        return ids

    def _platform_case(self, cases, case_id):
        receipt = cases.view(case_id).summary.receipt
        pid = next(c["case_id"] for c in self.sandbox.clerk("list")["cases"] if c["receipt"] == receipt)
        return self.sandbox.clerk("show", pid)

    def test_five_levels_only_after_completion_the_bottom_two_with_a_reason(self):
        store = self.new_store()
        cases = zb.ZhangbanCases(store, self.sandbox.url, None)
        run(cases.register_device("desktop", "python-test", "0"))
        ids = self._submitted(cases, store, 5)
        # Not completed yet: refused on the phone, nothing queued.
        with self.assertRaises(zb.ZhangbanError.Validation) as e:
            cases.rate(ids[0], zb.RatingLevel.VERY_SATISFIED, None)
        self.assertEqual(e.exception.field, "case")
        self.assertEqual(cases.pending_count(), 0)
        for case_id in ids:
            receipt = cases.view(case_id).summary.receipt
            self.sandbox.clerk("accept", receipt, "--days", "5")
            self.sandbox.clerk("approve", receipt, "--result", "准予")
            self.sandbox.clerk("complete", receipt, "--result", "已办结")
        run(cases.sync_now())
        for case_id in ids:
            p = cases.view(case_id)
            self.assertEqual(p.summary.state, zb.CaseState.COMPLETED)
            self.assertEqual([n.kind for n in p.needed_now], [zb.NeedKind.RATE])
            self.assertIsNotNone(p.needed_now[0].due)

        levels = [
            (zb.RatingLevel.VERY_SATISFIED, None, 5),
            (zb.RatingLevel.SATISFIED, None, 4),
            (zb.RatingLevel.BASICALLY_SATISFIED, None, 3),
            (zb.RatingLevel.DISSATISFIED, "等候时间过长", 2),
            (zb.RatingLevel.VERY_DISSATISFIED, "材料被退回三次，每次理由不同", 1),
        ]
        for case_id, (level, reason, _) in zip(ids, levels):
            if reason is not None:
                # The bottom two need a reason (blank counts as none).
                for missing in (None, "   "):
                    with self.assertRaises(zb.ZhangbanError.Validation) as e:
                        cases.rate(case_id, level, missing)
                    self.assertEqual(e.exception.field, "reason")
            cases.rate(case_id, level, reason)
        # Once per case.
        with self.assertRaises(zb.ZhangbanError.Validation):
            cases.rate(ids[0], zb.RatingLevel.SATISFIED, None)
        self.assertEqual(cases.pending_count(), 5)
        report = run(cases.sync_now())
        self.assertEqual((report.sent, report.quarantined, report.remaining), (5, 0, 0))
        for case_id, (level, reason, score) in zip(ids, levels):
            on_platform = self._platform_case(cases, case_id)["rating"]
            self.assertEqual((on_platform["score"], on_platform["reason"]), (score, reason))
            p = cases.view(case_id)
            self.assertEqual(p.needed_now, [])
            self.assertTrue(any(t.note.zh == "平台已记录评价" for t in p.timeline), [t.note for t in p.timeline])

    def test_a_complaint_queues_offline_and_reaches_the_platform(self):
        store = self.new_store()
        cases = zb.ZhangbanCases(store, self.sandbox.url, None)
        run(cases.register_device("desktop", "python-test", "0"))
        (case_id,) = self._submitted(cases, store, 1)
        for bad in ("", "   ", "长" * 2001):
            with self.assertRaises(zb.ZhangbanError.Validation) as e:
                cases.complain(case_id, bad)
            self.assertEqual(e.exception.field, "text")
        # No network (nothing listens on port 9): the complaint waits on the phone.
        offline = zb.ZhangbanCases(store, "http://127.0.0.1:9", None)
        complaint_id = offline.complain(case_id, "窗口说材料不全，但没有一次性告知缺什么")
        report = run(offline.sync_now())
        self.assertTrue(report.offline)
        self.assertEqual(offline.pending_count(), 1)
        # Back online (a complaint does not wait for completion).
        report = run(cases.sync_now())
        self.assertEqual((report.sent, report.remaining), (1, 0))
        complaints = self._platform_case(cases, case_id)["complaints"]
        self.assertEqual([(c["complaint_id"], c["text"]) for c in complaints],
                         [(complaint_id, "窗口说材料不全，但没有一次性告知缺什么")])
        run(cases.sync_now())
        notes = [t.note for t in cases.view(case_id).timeline]
        self.assertIn(zb.Text(zh="已提交反映", en="complaint filed"), notes)
        self.assertIn("平台已受理反映", [n.zh for n in notes])


class OfflineTest(FfiTestCase):
    def test_submit_offline_then_the_platform_comes_back(self):
        db = self.path("platform.db")
        first = Sandbox(db=db)
        addr, url = first.addr, first.url
        store = self.new_store()
        cases = zb.ZhangbanCases(store, url, None)
        run(cases.register_device("desktop", "python-test", "0"))
        code = first.catalog_codes()[0]
        first.stop()
        # The port is held while the platform is away (bound, not listening: the phone's request is refused as
        # when it is down), so that no outgoing connection on the machine takes it as its local port before the
        # platform comes back on it.
        held = hold_port(addr)
        a = store.write_attachment(SELF, "a.jpg", os.urandom(20_000))
        s = cases.submit(SELF, submission(code, a.id))
        report = run(cases.sync_now())
        self.assertTrue(report.offline)
        self.assertEqual((report.sent, report.remaining), (0, 1))
        # Same address, same database: the platform is back.
        held.close()
        for _ in range(50):
            try:
                again = Sandbox(addr=addr, db=db)
                break
            except RuntimeError:
                time.sleep(0.1)
        else:
            self.fail("sandbox did not restart on the same address")
        self.addCleanup(again.stop)
        report = run(cases.sync_now())
        self.assertEqual((report.receipts, report.remaining), (1, 0))
        self.assertTrue(cases.view(s.id).summary.receipt.startswith("ZB"))


class CalendarTest(FfiTestCase):
    def test_working_days_over_spring_festival_2024(self):
        # Accepted Thu 8 Feb 2024: 9 Feb is day 1, 10–17 Feb off, Sun 18 Feb worked (调休) is day 2.
        r = zb.add_working_days("2024-02-08", 2)
        self.assertEqual((r.date, r.provisional), ("2024-02-18", False))
        self.assertTrue(zb.add_working_days("2026-12-28", 10).provisional)
        self.assertEqual(zb.deferred_limit_days(10), 8)
        self.assertEqual(zb.deferred_limit_days(40), 20)

    def test_is_workday_and_working_days_between_cross_the_ffi(self):
        # Sun 18 Feb 2024 was a 调休 workday; Mon 12 Feb 2024 was in the Spring Festival break.
        self.assertEqual((zb.is_workday("2024-02-18").working, zb.is_workday("2024-02-18").provisional), (True, False))
        off = zb.is_workday("2024-02-12")
        self.assertFalse(off.working)
        self.assertIsNotNone(off.holiday_zh)
        self.assertTrue(zb.is_workday("2031-03-03").provisional)
        self.assertEqual(zb.working_days_between("2024-02-08", "2024-02-18").days, 2)
        self.assertEqual(zb.working_days_between("2024-02-18", "2024-02-08").days, -2)

    def test_calendar_dates_are_bounded_and_errors_name_the_parameter(self):
        # 9999-12-31 + 1 would print as +10000-01-03, which the FFI's own parser refuses: an error instead.
        with self.assertRaises(zb.ZhangbanError.Validation) as c:
            zb.add_working_days("9999-12-31", 1)
        self.assertEqual(c.exception.field, "n")
        for call, field in [
            (lambda: zb.add_working_days("2024-13-01", 1), "start"),
            (lambda: zb.add_working_days("+10000-01-03", 1), "start"),
            (lambda: zb.is_workday("2024-2-8"), "date"),
            (lambda: zb.working_days_between("2024-02-30", "2024-03-01"), "from"),
            (lambda: zb.working_days_between("2024-02-01", "x"), "to"),
        ]:
            with self.assertRaises(zb.ZhangbanError.Validation) as c:
                call()
            self.assertEqual(c.exception.field, field)
            self.assertTrue(c.exception.text_zh() and c.exception.text_en())


class IdentifierTest(FfiTestCase):
    def test_validators_answer_ok_or_a_typed_reason(self):
        self.assertIsNone(zb.check_id_number("11010519491231002X", "2026-12-06"))
        issue = zb.check_id_number("110105194912310021", "2026-12-06")
        self.assertEqual(issue.code, "check_character")
        self.assertTrue(issue.text.zh and issue.text.en)
        self.assertEqual(zb.check_id_number("1101051949", "2026-12-06").code, "length")
        with self.assertRaises(zb.ZhangbanError.Validation) as c:
            zb.check_id_number("11010519491231002X", "2026-12-32")
        self.assertEqual(c.exception.field, "today")
        # A national-level credit code (region 100000) is valid.
        self.assertIsNone(zb.check_credit_code("11100000000013338W"))
        bad = zb.check_credit_code("91350100M000100I43")
        self.assertEqual((bad.code, bad.position), ("character", 15))

    def test_licence_identifiers_with_21_character_type_codes(self):
        # The standard's layout: type code = defining authority's credit code + 3-digit sequence.
        unknown = "1.2.156.3005.2.11100000000013338W011.11100000000013338W.7.1."
        issues = {c: zb.check_licence_id(unknown + c) for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
        right = [c for c, i in issues.items() if i is None or i.code != "check_character"]
        self.assertEqual(len(right), 1, issues)
        # Well formed, but a type this app does not know: its own reason, not "malformed".
        self.assertEqual(issues[right[0]].code, "unknown_licence_type")
        self.assertEqual(zb.check_licence_id("1.2.156.3005.2.1101.11100000000013338W.7.1.V").code, "part")


if __name__ == "__main__":
    import unittest

    unittest.main()
