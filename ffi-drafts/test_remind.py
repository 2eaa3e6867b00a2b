"""FFI tests of reminders through the generated Python bindings: the plan and its diff, the 待办 home, the
channels and settings, and run_background against the sandbox platform (a supplement request brings its
reminders; supplying it cancels them)."""

import json

from ffi import FfiTestCase, run, zb
from test_cases import Sandbox

SELF = zb.self_subject()


class RemindTest(FfiTestCase):
    def test_plan_diff_and_home_of_an_empty_store(self):
        store = self.new_store()
        plan = zb.remind_plan(store)
        self.assertLessEqual(len(plan.pending), 60)
        self.assertGreater(plan.next_wakeup, plan.now)
        # The bundled working-day calendar ends with 2026: its running out is a reminder (or is planned).
        ids = [r.id for r in plan.pending]
        self.assertIn("calendar:2027", ids)
        self.assertEqual([r.id for r in plan.add], ids)
        # A second plan at once changes nothing: the diff is empty.
        again = zb.remind_plan(store)
        self.assertEqual((again.add, again.replace, again.cancel), ([], [], []))
        # After a reset (a reinstall), everything comes again as add, with the same ids.
        zb.remind_reset_plan(store)
        self.assertEqual([r.id for r in zb.remind_plan(store).add], ids)
        home = zb.remind_home(store)
        self.assertEqual(home.calendar_last_year, 2026)
        self.assertEqual(home.outbox_pending, 0)
        cal = [n for n in home.needs if n.source == zb.Source.CALENDAR][0]
        self.assertEqual(cal.link.uri, "zhangban://sync")
        self.assertTrue(cal.title.zh and cal.title.en)

    def test_channels_and_settings_are_the_cores(self):
        store = self.new_store()
        channels = zb.remind_channels()
        self.assertEqual([c.id for c in channels], ["zb.remind.low", "zb.remind.normal", "zb.remind.high", "zb.remind.urgent"])
        self.assertEqual(channels[3].name.zh, "今日到期")
        s = zb.remind_settings(store)
        self.assertEqual((s.quiet_start_minute, s.quiet_end_minute, s.max_pending), (22 * 60, 8 * 60, 60))
        s.max_pending = 61
        with self.assertRaises(zb.ZhangbanError.Validation) as e:
            zb.remind_set_settings(store, s)
        self.assertEqual(e.exception.field, "settings.max_pending")
        s.max_pending = 20
        zb.remind_set_settings(store, s)
        self.assertEqual(zb.remind_settings(store).max_pending, 20)


class RemindSandboxTest(FfiTestCase):
    def setUp(self):
        super().setUp()
        self.sandbox = Sandbox()
        self.addCleanup(self.sandbox.stop)

    def test_run_background_plans_a_supplement_and_supplying_cancels_it(self):
        store = self.new_store()
        cases = zb.ZhangbanCases(store, self.sandbox.url, None)
        run(cases.register_device("desktop", "python-remind", "0"))
        s = cases.submit(SELF, zb.Submission(item_codes=["GA-002"], title="居民身份证换领",
                                             values=json.dumps({"n": 1}), attachments=[], deferred_materials=[]))
        r = run(cases.run_background(20_000))
        self.assertEqual(r.run.receipts, 1)
        self.assertTrue(r.run.calendar_updated and r.run.catalog_updated)
        self.assertIn(f"event:{s.id}:receipt", [n.id for n in r.notices])
        pid = cases.view(s.id, None).summary.platform_id
        today = zb.remind_home(store)  # the phone's date comes from the core's clock
        self.sandbox.clerk("accept", pid, "--days", "20")
        self.sandbox.clerk("supplement", pid, "--items", "近期免冠照片", "--due-days", "5")
        r = run(cases.run_background(20_000))
        self.assertIsNone(r.plan_error)
        prefix = f"supplement:{s.id}:"
        added = [x.id for x in r.plan.add if x.id.startswith(prefix)]
        self.assertEqual(sorted(i.rsplit(":", 1)[1] for i in added), ["due", "missed", "w1", "w3"])
        home = zb.remind_home(store)
        self.assertEqual(home.needs[0].source, zb.Source.SUPPLEMENT)
        self.assertEqual(home.needs[0].action, zb.Action.SUPPLY)
        self.assertIsNotNone(home.last_sync_at)
        self.assertEqual(today.outbox_pending, 0)
        cases.supply(s.id, json.dumps({"photo": "new"}), [], "已补交")
        r = run(cases.run_background(20_000))
        self.assertEqual(r.run.sent, 1)
        for i in added:
            self.assertIn(i, r.plan.cancel)
