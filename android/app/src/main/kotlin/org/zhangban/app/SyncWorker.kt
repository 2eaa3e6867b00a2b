package org.zhangban.app

import android.content.Context
import androidx.work.BackoffPolicy
import androidx.work.Constraints
import androidx.work.CoroutineWorker
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.NetworkType
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import androidx.work.WorkerParameters
import java.util.concurrent.TimeUnit
import org.zhangban.kit.applyTo
import uniffi.zhangban_ffi.ZhangbanException

/**
 * Periodic background run: the core's `runBackground` (send the outbox, pull events, catalog and calendar
 * updates, then a new reminder plan) within a time bound, and the plan's add / replace / cancel diff handed to
 * [ReminderScheduler]. Notices raised by the sync reach [Notifications] through the facade's listener. What
 * to retry and when is the core's outbox; WorkManager only decides when the app gets to run.
 */
class SyncWorker(context: Context, params: WorkerParameters) : CoroutineWorker(context, params) {
    override suspend fun doWork(): Result {
        val app = applicationContext as ZhangbanApp
        return try {
            val z = app.zhangban()
            app.registerOnce(z)
            // The run's notices were posted by the listener; only the plan's diff is applied here.
            val report = z.casesApi.runBackground(BUDGET_MS.toULong())
            report.plan?.applyTo(ReminderScheduler(applicationContext))
            if (report.run.offline) Result.retry() else Result.success()
        } catch (e: ZhangbanException.Locked) {
            Result.success() // PIN-protected and locked: the next foreground sync catches up
        } catch (e: ZhangbanException) {
            Result.retry()
        }
    }

    companion object {
        private const val NAME = "zhangban-sync"
        /** WorkManager allows a worker 10 minutes; one run takes far less. */
        private const val BUDGET_MS = 60_000L

        fun schedule(context: Context) {
            val request = PeriodicWorkRequestBuilder<SyncWorker>(15, TimeUnit.MINUTES)
                .setConstraints(Constraints.Builder().setRequiredNetworkType(NetworkType.CONNECTED).build())
                .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, 1, TimeUnit.MINUTES)
                .build()
            WorkManager.getInstance(context).enqueueUniquePeriodicWork(NAME, ExistingPeriodicWorkPolicy.KEEP, request)
        }
    }
}
