package org.zhangban.app

import android.Manifest
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.PendingIntent
import android.content.Context
import android.content.Intent
import android.content.pm.PackageManager
import android.net.Uri
import android.os.Build
import androidx.core.app.NotificationCompat
import androidx.core.app.NotificationManagerCompat
import androidx.core.content.ContextCompat
import androidx.work.ExistingWorkPolicy
import androidx.work.OneTimeWorkRequestBuilder
import androidx.work.WorkManager
import androidx.work.Worker
import androidx.work.WorkerParameters
import androidx.work.workDataOf
import java.util.concurrent.TimeUnit
import org.zhangban.kit.Lang
import org.zhangban.kit.LocalNotifications
import uniffi.zhangban_remind.reminderChannels
import uniffi.zhangban_remind.Reminder
import uniffi.zhangban_remind.Urgency

/**
 * The core's reminder plan on Android: each reminder is one unique WorkManager work named by its stable id
 * (`REPLACE`: a new plan's version replaces the old one, never duplicates), delayed until `fireAt`; the
 * worker posts it on its urgency's channel (one channel per urgency, names from the core) with the deep link
 * `zhangban://…` as the intent's data. Cancelling removes both the work and a shown notification. No rule:
 * which reminders and when is the core's plan ([org.zhangban.kit.Reminders] applies its diff here).
 */
class ReminderScheduler(private val context: Context) : LocalNotifications {
    override fun schedule(reminder: Reminder) {
        val delayMs = (reminder.fireAt * 1000 - System.currentTimeMillis()).coerceAtLeast(0)
        val data = workDataOf(
            ID to reminder.id,
            TITLE_ZH to reminder.title.zh,
            TITLE_EN to reminder.title.en,
            BODY_ZH to reminder.body.zh,
            BODY_EN to reminder.body.en,
            CHANNEL to channelOf(reminder.urgency),
            URI to reminder.link.uri,
            AT to reminder.fireAt,
        )
        val work = OneTimeWorkRequestBuilder<ReminderWorker>()
            .setInitialDelay(delayMs, TimeUnit.MILLISECONDS)
            .setInputData(data)
            .build()
        WorkManager.getInstance(context).enqueueUniqueWork(WORK_PREFIX + reminder.id, ExistingWorkPolicy.REPLACE, work)
    }

    override fun cancel(id: String) {
        WorkManager.getInstance(context).cancelUniqueWork(WORK_PREFIX + id)
        NotificationManagerCompat.from(context).cancel(id, 0)
    }

    companion object {
        private const val WORK_PREFIX = "zb.reminder."
        const val ID = "id"
        const val TITLE_ZH = "title_zh"
        const val TITLE_EN = "title_en"
        const val BODY_ZH = "body_zh"
        const val BODY_EN = "body_en"
        const val CHANNEL = "channel"
        const val URI = "uri"
        const val AT = "at"

        private fun channelOf(u: Urgency): String = reminderChannels().first { it.urgency == u }.id

        /** One channel per urgency, as the core lists them (names in the phone's language). */
        fun createChannels(context: Context) {
            if (Build.VERSION.SDK_INT < 26) return
            val lang = Lang.of(context.resources.configuration.locales[0])
            val manager = context.getSystemService(NotificationManager::class.java)
            for (c in reminderChannels()) {
                val importance = when (c.urgency) {
                    Urgency.LOW -> NotificationManager.IMPORTANCE_LOW
                    Urgency.NORMAL -> NotificationManager.IMPORTANCE_DEFAULT
                    Urgency.HIGH, Urgency.URGENT -> NotificationManager.IMPORTANCE_HIGH
                }
                manager.createNotificationChannel(NotificationChannel(c.id, lang.pick(c.name), importance))
            }
        }
    }
}

/** Posts one planned reminder when its time comes (tag = the reminder id, so a cancel removes it). */
class ReminderWorker(context: Context, params: WorkerParameters) : Worker(context, params) {
    override fun doWork(): Result {
        val ctx = applicationContext
        if (Build.VERSION.SDK_INT >= 33 &&
            ContextCompat.checkSelfPermission(ctx, Manifest.permission.POST_NOTIFICATIONS) !=
            PackageManager.PERMISSION_GRANTED
        ) {
            return Result.success()
        }
        val d = inputData
        val id = d.getString(ReminderScheduler.ID) ?: return Result.success()
        val lang = Lang.of(ctx.resources.configuration.locales[0])
        val title = lang.pick(d.getString(ReminderScheduler.TITLE_ZH).orEmpty(), d.getString(ReminderScheduler.TITLE_EN).orEmpty())
        val body = lang.pick(d.getString(ReminderScheduler.BODY_ZH).orEmpty(), d.getString(ReminderScheduler.BODY_EN).orEmpty())
        // The deep link: MainActivity opens the screen the core named (case, licence, renewal, draft, home).
        val open = Intent(Intent.ACTION_VIEW, Uri.parse(d.getString(ReminderScheduler.URI)), ctx, MainActivity::class.java)
            .addFlags(Intent.FLAG_ACTIVITY_SINGLE_TOP or Intent.FLAG_ACTIVITY_CLEAR_TOP)
        val pending = PendingIntent.getActivity(ctx, id.hashCode(), open, PendingIntent.FLAG_UPDATE_CURRENT or PendingIntent.FLAG_IMMUTABLE)
        val n = NotificationCompat.Builder(ctx, d.getString(ReminderScheduler.CHANNEL).orEmpty())
            .setSmallIcon(android.R.drawable.ic_popup_reminder)
            .setContentTitle(title)
            .setContentText(body)
            .setStyle(NotificationCompat.BigTextStyle().bigText(body))
            .setContentIntent(pending)
            .setAutoCancel(true)
            .setWhen(d.getLong(ReminderScheduler.AT, 0) * 1000)
            .build()
        NotificationManagerCompat.from(ctx).notify(id, 0, n)
        return Result.success()
    }
}
