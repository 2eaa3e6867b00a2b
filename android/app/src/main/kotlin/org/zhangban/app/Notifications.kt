package org.zhangban.app

import android.Manifest
import android.app.NotificationChannel
import android.app.NotificationManager
import android.app.PendingIntent
import android.content.Context
import android.content.Intent
import android.content.pm.PackageManager
import android.os.Build
import androidx.core.app.NotificationCompat
import androidx.core.app.NotificationManagerCompat
import androidx.core.content.ContextCompat
import org.zhangban.kit.Lang
import org.zhangban.kit.text
import uniffi.zhangban_base.Notice

/** Case notices from the core's CaseListener as Android notifications (text from the core, zh or en). */
object Notifications {
    private const val CHANNEL = "cases"
    const val EXTRA_CASE_ID = "org.zhangban.app.CASE_ID"

    fun createChannel(context: Context) {
        if (Build.VERSION.SDK_INT < 26) return
        val channel = NotificationChannel(
            CHANNEL,
            context.getString(R.string.notices_channel),
            NotificationManager.IMPORTANCE_DEFAULT,
        )
        context.getSystemService(NotificationManager::class.java).createNotificationChannel(channel)
    }

    /** Called on the core's sync thread; NotificationManager is thread-safe. */
    fun post(context: Context, notice: Notice) {
        if (Build.VERSION.SDK_INT >= 33 &&
            ContextCompat.checkSelfPermission(context, Manifest.permission.POST_NOTIFICATIONS) !=
            PackageManager.PERMISSION_GRANTED
        ) {
            return
        }
        val text = notice.text(Lang.of(context.resources.configuration.locales[0]))
        val open = Intent(context, MainActivity::class.java)
            .addFlags(Intent.FLAG_ACTIVITY_SINGLE_TOP or Intent.FLAG_ACTIVITY_CLEAR_TOP)
            .putExtra(EXTRA_CASE_ID, notice.caseId)
        val pending = PendingIntent.getActivity(
            context,
            notice.caseId.hashCode(),
            open,
            PendingIntent.FLAG_UPDATE_CURRENT or PendingIntent.FLAG_IMMUTABLE,
        )
        val n = NotificationCompat.Builder(context, CHANNEL)
            .setSmallIcon(android.R.drawable.stat_notify_sync)
            .setContentTitle(text.title)
            .setContentText(text.body)
            .setStyle(NotificationCompat.BigTextStyle().bigText(text.body))
            .setContentIntent(pending)
            .setAutoCancel(true)
            .setWhen(notice.at * 1000)
            .build()
        // One notification per case: a newer notice replaces the older one.
        NotificationManagerCompat.from(context).notify(notice.caseId.hashCode(), n)
    }
}
