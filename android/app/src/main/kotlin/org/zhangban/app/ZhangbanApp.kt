package org.zhangban.app

import android.app.Application
import android.os.Build
import java.io.File
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.launch
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import org.zhangban.kit.Zhangban
import org.zhangban.ui.NewPhone
import uniffi.zhangban_ffi.ZhangbanException

/**
 * Holds the one [Zhangban] of the process (opened on first use, off the main thread), shared by the UI and
 * [SyncWorker]; notices from the core become notifications whether or not a screen is up.
 */
class ZhangbanApp : Application() {
    private val lock = Mutex()
    private val background = CoroutineScope(SupervisorJob() + Dispatchers.IO)
    @Volatile
    private var instance: Zhangban? = null

    /** The open Zhangban, if any (the activity's lifecycle hooks: lock after the core's delay in the background). */
    fun current(): Zhangban? = instance

    override fun onCreate() {
        super.onCreate()
        Notifications.createChannel(this)
        ReminderScheduler.createChannels(this)
        SyncWorker.schedule(this)
    }

    /** The store's folder (never in Auto Backup: its key never leaves the Keystore; the sealed backup file is). */
    val storeDir: File get() = File(noBackupFilesDir, "zhangban")

    /**
     * The first start on this phone (no store yet): the screens offer to restore a backup before an empty
     * store is made ([org.zhangban.ui.RestoreScreen]).
     */
    fun firstStart(): Boolean = instance == null && !storeDir.exists()

    /** Where a restore on this new phone puts the store, and how the phone signs up to check the files first. */
    fun newPhone(): NewPhone =
        NewPhone(storeDir.path, KeystoreVault.create(), BuildConfig.PLATFORM_URL, "${Build.MANUFACTURER} ${Build.MODEL}", BuildConfig.VERSION_NAME)

    suspend fun zhangban(): Zhangban =
        lock.withLock {
            instance ?: Zhangban.open(
                dir = storeDir.path,
                vault = KeystoreVault.create(),
                pin = null, // a PIN screen would pass it here (and call unlock after lock())
                platformUrl = BuildConfig.PLATFORM_URL,
                onNotice = { Notifications.post(this, it) },
                deviceKey = KeystoreDeviceKey, // StrongBox / TEE: registered and signing for a new store
            ).also {
                instance = it
                // The first screen does not wait for the network: registration runs on its own, and a
                // refusal or no network only means it is tried again (next launch, next SyncWorker run).
                background.launch { registerOnce(it) }
            }
        }

    /**
     * Registers the device with the platform once. Any failure (offline, refused, the store locked) is
     * left for the next attempt: it never reaches the screens as an error.
     */
    suspend fun registerOnce(z: Zhangban) {
        try {
            if (z.isRegistered()) return
            z.registerDevice("android", "${Build.MANUFACTURER} ${Build.MODEL}", BuildConfig.VERSION_NAME)
        } catch (e: ZhangbanException) {
            // next time
        }
    }
}
