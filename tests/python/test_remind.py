"""FFI tests of reminders through the generated Python bindings: the plan and its add / replace / cancel diff,
the same ids after a restart and after a reset, the 待办 home, the channels and the settings (quiet hours,
lead times, validation naming the field), and `ZhangbanCases.run_background` against the sandbox platform
(a supplement request brings its reminders; supplying it cancels them). Standard library only."""

import gc
import json

from ffi import FfiTestCase, run, zb
from test_cases import Sandbox

SELF = zb.self_subject()


def submission(title):
    return zb.Submission(item_codes=["GA-002"], title=title, values=json.dumps({"n": 1}), attachments=[],
                         deferred_materials=[], materials=[])


class RemindTest(FfiTestCase):
    def test_plan_diff_restart_and_home_of_a_store(self):
        store = self.new_store()
        rem = zb.ZhangbanReminders(store)
        plan = rem.plan()
        self.assertLessEqual(len(plan.pending), 60)
        self.assertGreater(plan.next_wakeup, plan.now)
        # The bundled working-day calendar ends with 2026 (today is December 2026): its running out is due.
        ids = [r.id for r in plan.pending]
        self.assertIn("calendar:2027", ids)
        self.assertEqual(sorted(r.id for r in plan.add), sorted(ids))
        self.assertEqual((plan.replace, plan.cancel), ([], []))
        cal = next(r for r in plan.pending if r.id == "calendar:2027")
        self.assertEqual(cal.source, zb.ReminderSource.CALENDAR)
        self.assertEqual(cal.link.screen, zb.Screen.SYNC)
        self.assertEqual(cal.link.uri, "zhangban://sync")
        self.assertTrue(cal.title.zh and cal.title.en and cal.body.zh and cal.body.en)
        # A second plan at once changes nothing: the diff is empty. What was due at once was shown (the OS
        # fired it): only what lies ahead stays pending.
        again = rem.plan()
        self.assertEqual((again.add, again.replace, again.cancel), ([], [], []))
        ahead = [r.id for r in plan.pending if r.fire_at > plan.now]
        self.assertEqual([r.id for r in again.pending], ahead)

        # A restart (the store closed and opened again): the same ids and still an empty diff.
        del rem, store, plan, again
        gc.collect()
        store = self.open_store()
        rem = zb.ZhangbanReminders(store)
        after = rem.plan()
        self.assertEqual([r.id for r in after.pending], ahead)
        self.assertEqual((after.add, after.replace, after.cancel), ([], [], []))
        # After a reset (a reinstall of the plan), everything comes again as add, with the same ids.
        rem.reset_plan()
        self.assertEqual(sorted(r.id for r in rem.plan().add), sorted(ids))

        home = rem.home()
        self.assertEqual(home.calendar_last_year, 2026)
        self.assertEqual((home.outbox_pending, home.outbox_refused), (0, 0))
        self.assertEqual((home.cases, home.licences, home.drafts), ([], [], []))
        self.assertIsNone(home.last_sync_at)
        self.assertIn("calendar:2027", [n.id for n in home.needs])
        self.assertEqual([p.subject for p in home.principals], [SELF])
        self.assertEqual(home.principals[0].label.zh, "本人")

    def test_a_draft_and_a_queued_case_show_on_the_home(self):
        store = self.new_store()
        d = zb.ZhangbanDraft.start(store, SELF, "GA-002")
        cases = zb.ZhangbanCases(store, "http://127.0.0.1:9", None)  # never reached: submitting is offline
        c = cases.submit(SELF, submission("居民身份证换领"))
        home = zb.ZhangbanReminders(store).home()
        self.assertEqual([x.draft_id for x in home.drafts], [d.state().id])
        self.assertEqual(home.drafts[0].target, "GA-002")
        self.assertTrue(home.drafts[0].name.zh)
        self.assertEqual([x.case_id for x in home.cases], [c.id])
        self.assertEqual(home.cases[0].state, zb.CaseState.QUEUED)
        self.assertIsNone(home.cases[0].working_days_left)
        self.assertEqual(home.outbox_pending, 1)
        # 催办 only past the promised date: the core's rule, its error naming the field.
        with self.assertRaises(zb.ZhangbanError.Validation) as e:
            zb.ZhangbanReminders(store).urge(c.id)
        self.assertEqual(e.exception.field, "case")

    def test_channels_actions_and_settings_are_the_cores(self):
        store = self.new_store()
        rem = zb.ZhangbanReminders(store)
        channels = zb.reminder_channels()
        self.assertEqual([c.id for c in channels],
                         ["zb.remind.low", "zb.remind.normal", "zb.remind.high", "zb.remind.urgent"])
        self.assertEqual([c.urgency for c in channels],
                         [zb.Urgency.LOW, zb.Urgency.NORMAL, zb.Urgency.HIGH, zb.Urgency.URGENT])
        self.assertEqual(channels[3].name.zh, "今日到期")
        self.assertEqual(zb.reminder_action_label(zb.ReminderAction.URGE).zh, "催办")
        s = rem.settings()
        self.assertEqual((s.quiet_start_minute, s.quiet_end_minute, s.max_pending), (22 * 60, 8 * 60, 60))
        self.assertEqual((s.deadline_leads, s.licence_leads), ([3, 1], [30, 7, 1]))
        s.max_pending = 61
        with self.assertRaises(zb.ZhangbanError.Validation) as e:
            rem.set_settings(s)
        self.assertEqual(e.exception.field, "settings.max_pending")
        self.assertTrue(e.exception.text_zh() and e.exception.text_en())
        s.max_pending = 20
        s.quiet_start_minute, s.quiet_end_minute = 21 * 60, 7 * 60
        rem.set_settings(s)
        got = rem.settings()
        self.assertEqual((got.max_pending, got.quiet_start_minute, got.quiet_end_minute), (20, 21 * 60, 7 * 60))
        s.quiet_end_minute = 24 * 60
        with self.assertRaises(zb.ZhangbanError.Validation) as e:
            rem.set_settings(s)
        self.assertEqual(e.exception.field, "settings.quiet_end_minute")

    def test_urge_of_an_unknown_case_is_not_found(self):
        rem = zb.ZhangbanReminders(self.new_store())
        with self.assertRaises(zb.ZhangbanError.NotFound):
            rem.urge("no-such-case")


class RemindSandboxTest(FfiTestCase):
    def setUp(self):
        super().setUp()
        self.sandbox = Sandbox()
        self.addCleanup(self.sandbox.stop)

    def test_run_background_plans_a_supplement_and_supplying_cancels_it(self):
        store = self.new_store()
        cases = zb.ZhangbanCases(store, self.sandbox.url, None)
        rem = zb.ZhangbanReminders(store)
        run(cases.register_device("desktop", "python-remind", "0"))
        s = cases.submit(SELF, submission("居民身份证换领"))
        r = run(cases.run_background(20_000))
        self.assertEqual(r.run.receipts, 1)
        self.assertIn(f"event:{s.id}:receipt", [n.id for n in r.notices])
        self.assertIsNone(r.plan_error)
        self.assertIsNotNone(rem.home().last_sync_at)
        receipt = cases.view(s.id).summary.receipt
        self.sandbox.clerk("accept", receipt, "--days", "20")
        self.sandbox.clerk("supplement", receipt, "--items", "近期免冠照片", "--due-days", "5")
        r = run(cases.run_background(20_000))
        self.assertIsNone(r.plan_error)
        n = next(n for n in r.notices if n.id == f"event:{s.id}:supplement")
        self.assertEqual(n.urgency, zb.Urgency.HIGH)
        self.assertEqual(n.action, zb.ReminderAction.SUPPLY)
        prefix = f"supplement:{s.id}:"
        added = [x.id for x in r.plan.add if x.id.startswith(prefix)]
        self.assertEqual(sorted(i.rsplit(":", 1)[1] for i in added), ["due", "missed", "w1", "w3"])
        home = rem.home()
        self.assertEqual(home.needs[0].source, zb.ReminderSource.SUPPLEMENT)
        self.assertEqual(home.needs[0].action, zb.ReminderAction.SUPPLY)
        self.assertEqual(home.needs[0].link.uri, f"zhangban://case/{s.id}")
        line = next(c for c in home.cases if c.case_id == s.id)
        self.assertEqual(line.state, zb.CaseState.SUPPLEMENT_REQUESTED)
        self.assertIsNotNone(line.promised_date)
        cases.supply(s.id, json.dumps({"photo": "new"}), [], "已补交")
        r = run(cases.run_background(20_000))
        self.assertEqual(r.run.sent, 1)
        for i in added:
            self.assertIn(i, r.plan.cancel)
        self.assertFalse([x for x in r.plan.pending if x.id.startswith(prefix)])


if __name__ == "__main__":
    import unittest

    unittest.main()
