package org.zhangban.kit

import java.util.concurrent.atomic.AtomicReference
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async
import kotlinx.coroutines.cancel
import kotlinx.coroutines.delay
import kotlinx.coroutines.channels.BufferOverflow
import kotlinx.coroutines.flow.MutableSharedFlow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.SharedFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asSharedFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import uniffi.zhangban_base.Notice
import uniffi.zhangban_cases.CaseSummary
import uniffi.zhangban_cases.CaseView
import uniffi.zhangban_ffi.CaseListener
import uniffi.zhangban_ffi.KeyVault
import uniffi.zhangban_ffi.ZhangbanCases
import uniffi.zhangban_ffi.ZhangbanDraft
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_ffi.ZhangbanReminders
import uniffi.zhangban_ffi.ZhangbanStore
import uniffi.zhangban_ffi.ZhangbanTestClock
import uniffi.zhangban_ffi.ZhangbanWallet
import uniffi.zhangban_ffi.catalogBrowse
import uniffi.zhangban_ffi.catalogChecklist
import uniffi.zhangban_ffi.deviceRegistered
import uniffi.zhangban_ffi.catalogSearch
import uniffi.zhangban_ffi.draftsList
import uniffi.zhangban_base.selfSubject
import uniffi.zhangban_catalog.Browse
import uniffi.zhangban_catalog.Hit
import uniffi.zhangban_forms.Checklist
import uniffi.zhangban_forms.DraftInfo
import uniffi.zhangban_remind.Home
import uniffi.zhangban_sync.RunReport

/**
 * One person's Zhangban for a UI: the encrypted store, their applications synced with one platform, the
 * wallet, catalog and drafts, as suspend functions (run on [io], never on the caller's thread) and flows.
 * Glue only: every rule is in the core behind the generated API (`uniffi.zhangban_ffi`), which stays
 * reachable through [store], [cases] and [wallet].
 *
 * - [cases] is a [StateFlow] of the case list, refreshed after each local change, each sync, and each
 *   `CaseListener` notice (the core calls the listener from its sync task once a change is stored).
 * - [notices] replays nothing: collect it while a screen is up. For notifications that must not depend on a
 *   collector (a background worker), pass [onNotice] to [open]; it is called on the core's thread.
 *
 * Open with [open] (PBKDF2 for a PIN takes about half a second on purpose: off the main thread). [shutdown]
 * stops the background sync, then [close]s: the listener's pending work is cancelled and the native
 * objects are freed.
 */
class Zhangban private constructor(
    val store: ZhangbanStore,
    val platformUrl: String,
    private val io: CoroutineDispatcher,
    private val onNotice: ((Notice) -> Unit)?,
) : AutoCloseable {
    private val scope = CoroutineScope(SupervisorJob() + io)
    private val _cases = MutableStateFlow<List<CaseSummary>>(emptyList())
    private val _notices =
        MutableSharedFlow<Notice>(extraBufferCapacity = 64, onBufferOverflow = BufferOverflow.DROP_OLDEST)
    private val self = AtomicReference<Zhangban?>(null)

    /** Receives the core's notices; refreshes the list off the core's thread. */
    private val listener = object : CaseListener {
        override fun onNotice(notice: Notice) {
            _notices.tryEmit(notice)
            try {
                onNotice?.invoke(notice)
            } catch (e: Exception) {
                // A failing notification must not stop the refresh below; the core would swallow it anyway.
            }
            self.get()?.let { z ->
                z.scope.launch {
                    try {
                        z.reloadCases()
                    } catch (e: ZhangbanException) {
                        // Locked meanwhile, or the store is closing: the next refresh catches up.
                    }
                }
            }
        }
    }

    /** The generated cases API of this store and platform (for what the facade does not wrap). */
    val casesApi: ZhangbanCases = ZhangbanCases(store, platformUrl, listener)

    private val walletRef = lazy { ZhangbanWallet.open(store) }

    /**
     * The wallet over this store. Its device key is the [PlatformKey] given to [open] (offered to the store for
     * the session, recorded by the core as the store's on first use), or the store's own (kept encrypted in it;
     * an older store keeps it: ADR 0029). A replaced platform key is `ZhangbanException.Validation("device_key")`.
     */
    val wallet: ZhangbanWallet by walletRef

    private val remindersRef = lazy { ZhangbanReminders(store) }

    /** The reminders of this store: the plan and its settings ([Reminders] hands the plan to the OS). */
    val remindersApi: ZhangbanReminders by remindersRef

    /** All cases, newest first. */
    val cases: StateFlow<List<CaseSummary>> = _cases.asStateFlow()

    private val _locked = MutableStateFlow(store.isLocked())

    /**
     * Whether the store is locked (it has a PIN and was opened without it, or [lock] was called): the screens
     * show the PIN screen instead of the tabs until [unlock] succeeds.
     */
    val locked: StateFlow<Boolean> = _locked.asStateFlow()

    /** Notices as they arrive (receipt, state changed, supplement requested, licence issued, refused). */
    val notices: SharedFlow<Notice> = _notices.asSharedFlow()

    init {
        self.set(this)
    }

    companion object {
        /**
         * Opens the store in [dir], or creates it there (with [pin], if given), on [io]. Errors are the
         * core's: `ZhangbanException.WrongPin`, `.Locked`, `.WrongKey`, … (show them with `text(lang)`).
         * [deviceKey]: the platform's device key (Android: a StrongBox / TEE Keystore key the host makes). It is
         * offered to the store once, here (`ZhangbanStore.offerDeviceSigner`): every path that signs with the
         * device key gets it from there — the wallet, registration, the background licence issuance, the old
         * phone's transfer signature ([Backup]), agent mode ([AgentMode]) (ADR 0035).
         */
        suspend fun open(
            dir: String,
            vault: KeyVault,
            pin: String?,
            platformUrl: String,
            io: CoroutineDispatcher = Dispatchers.IO,
            onNotice: ((Notice) -> Unit)? = null,
            clock: ZhangbanTestClock? = null,
            deviceKey: PlatformKey? = null,
        ): Zhangban =
            withContext(io) {
                val store = clock?.let { ZhangbanStore.openOrCreateWithClock(dir, vault, pin, it) }
                    ?: openOrCreate(dir, vault, pin)
                try {
                    deviceKey?.let { store.offerDeviceSigner(PlatformSigner(it)) }
                    Zhangban(store, platformUrl, io, onNotice).also { it.reloadCases() }
                } catch (e: Throwable) {
                    store.close()
                    throw e
                }
            }

        /**
         * A store with a PIN opened without it (`pin` null) opens locked ([locked]: the PIN screen asks for it)
         * instead of failing with `Locked`: the app shows its PIN screen, not an error.
         */
        private fun openOrCreate(dir: String, vault: KeyVault, pin: String?): ZhangbanStore =
            try {
                ZhangbanStore.openOrCreate(dir, vault, pin)
            } catch (e: ZhangbanException.Locked) {
                if (pin != null) throw e
                ZhangbanStore.open(dir, vault)
            }
    }

    private val reloading = Any()

    /**
     * Reads the list and publishes it as one step: two reloads at once (a notice's, launched on the IO pool, and
     * a sync's own) could publish out of order, the older list last, and the screens kept a state the store no
     * longer had until the next change.
     */
    private fun reloadCases() {
        synchronized(reloading) {
            if (!store.isLocked()) _cases.value = casesApi.list(null)
        }
    }

    suspend fun refreshCases(): List<CaseSummary> = withContext(io) { reloadCases(); _cases.value }

    // ---- lock -----------------------------------------------------------------------------------

    fun isLocked(): Boolean = store.isLocked()

    /** Forgets the keys in memory; [locked] says so to the screens (the PIN screen instead of the tabs). */
    fun lock() {
        pendingLock.getAndSet(null)?.cancel()
        store.lock()
        _locked.value = store.isLocked()
    }

    private val pendingLock = AtomicReference<Job?>(null)

    /**
     * The app left the screen (the host's lifecycle hook: Android `onStop`): the core binds the changes made
     * since the last bind (the process may be killed in the background) and gives the delay
     * (`ZhangbanStore.leftTheScreen`: the person's setting, 30 s by default; never for a store without a PIN),
     * on [io]; after it the store locks, unless [onForeground] came first. [wait] is the delay (tests shorten it).
     */
    fun onBackground(wait: suspend (Long) -> Unit = { delay(it * 1000) }) {
        // Not cancelled by coming back: the bind runs to its end whatever the lock does.
        val left = scope.async {
            try {
                store.leftTheScreen()
            } catch (e: ZhangbanException) {
                0u // unreadable setting: lock at once rather than stay open
            }
        }
        val job = scope.launch(start = kotlinx.coroutines.CoroutineStart.LAZY) {
            val secs = left.await() ?: return@launch
            wait(secs.toLong())
            if (pendingLock.compareAndSet(coroutineContext[Job], null)) {
                store.lock()
                _locked.value = store.isLocked()
            }
        }
        pendingLock.getAndSet(job)?.cancel()
        job.start()
    }

    /** The app is on the screen again (Android `onStart`): a lock still waiting is cancelled. */
    fun onForeground() {
        pendingLock.getAndSet(null)?.cancel()
    }

    /**
     * Unlocks with [pin] (PBKDF2, on [io]). The core counts the attempt before it checks it: a wrong PIN is
     * `ZhangbanException.WrongPin(attemptsLeft)`, too many are `.Locked(retryAfterSecs)` (see [lockoutRemaining]).
     */
    suspend fun unlock(pin: String?) = withContext(io) {
        store.unlock(pin)
        _locked.value = store.isLocked()
        reloadCases()
    }

    /** Seconds before the core takes another PIN attempt (0: now); measured on the boot clock, by the core. */
    suspend fun lockoutRemaining(): Long = withContext(io) { store.lockoutRemaining().toLong() }

    // ---- catalog and forms ----------------------------------------------------------------------

    suspend fun search(query: String, limit: Int = 20): List<Hit> =
        withContext(io) { catalogSearch(store, query, limit.coerceIn(0, 200).toUInt()) }

    /** The catalog for browsing: the bundles (一件事), then the items by department. */
    suspend fun browse(): Browse = withContext(io) { catalogBrowse(store) }

    /** 一次性告知 for an item or bundle, before any draft. */
    suspend fun checklist(code: String, subject: String = selfSubject()): Checklist =
        withContext(io) { catalogChecklist(store, subject, code) }

    suspend fun drafts(subject: String? = selfSubject()): List<DraftInfo> =
        withContext(io) { draftsList(store, subject) }

    /** Starts a draft for an item or bundle, autofilled from the profile and the wallet. */
    suspend fun startDraft(target: String, subject: String = selfSubject()): DraftForm =
        opened(io) { DraftForm(store, ZhangbanDraft.start(store, subject, target), io) }

    /** Reopens a saved draft with every saved edit (after the app was killed, too). */
    suspend fun resumeDraft(draftId: String): DraftForm =
        opened(io) { DraftForm(store, ZhangbanDraft.resume(store, draftId), io) }

    /**
     * Submits a completed draft (works offline; sync sends it). Submitting it again returns the same case.
     * A draft with problems: `ZhangbanException.Validation` naming the first one.
     */
    suspend fun submit(form: DraftForm): CaseSummary {
        val case = form.withDraft { casesApi.submitDraft(it) }
        form.reload()
        refreshCases()
        return case
    }

    // ---- cases and sync -------------------------------------------------------------------------

    /** The case screen in one call (today by the store's clock): state, working days, needs, actions. */
    suspend fun view(caseId: String): CaseView = withContext(io) { casesApi.view(caseId) }

    /** The 待办 home in one call (today by the store's clock): what needs the person now, cases under way, … */
    suspend fun home(): Home = withContext(io) { remindersApi.home() }

    /** 催办: queues the urge of an overdue case in the outbox (the next sync sends it). */
    suspend fun urge(caseId: String) = withContext(io) { remindersApi.urge(caseId) }

    /** Whether this store's device is registered with a platform (kept in the store by the core). */
    suspend fun isRegistered(): Boolean = withContext(io) { deviceRegistered(store) }

    /**
     * Registers this device with the platform (once, before the first sync): the key registered is the
     * [PlatformKey]'s when [open] had one (the core decides: a store with its own key keeps that one).
     */
    suspend fun registerDevice(platform: String, model: String, appVersion: String): String =
        casesApi.registerDevice(platform, model, appVersion)

    /** One sync run now (what a WorkManager worker / background refresh calls). */
    suspend fun syncNow(): RunReport {
        val report = casesApi.syncNow()
        refreshCases()
        return report
    }

    suspend fun startBackgroundSync() = casesApi.startBackgroundSync()

    suspend fun stopBackgroundSync() = casesApi.stopBackgroundSync()

    /** A presenter of the wallet's licences as refreshing QR codes. */
    fun presenter(wait: suspend (Long) -> Unit = { delay(it * 1000) }): QrPresenter =
        QrPresenter(wallet, io, wait)

    /** Stops the background sync loop, then [close]. */
    suspend fun shutdown() {
        casesApi.stopBackgroundSync()
        close()
    }

    override fun close() {
        self.set(null)
        scope.cancel()
        if (walletRef.isInitialized()) wallet.close()
        if (remindersRef.isInitialized()) remindersApi.close()
        casesApi.close()
        store.close()
    }
}

/**
 * Makes a closeable object on [io] and hands it to the caller, or closes it when the caller was cancelled
 * meanwhile: a form screen that left (back, another tab) while its draft was opening got no form, and the
 * opened draft was never closed (nobody held it).
 */
internal suspend fun <T : AutoCloseable> opened(io: CoroutineDispatcher, make: () -> T): T {
    var made: T? = null
    try {
        return withContext(io) { make().also { made = it } }
    } catch (e: CancellationException) {
        made?.close()
        throw e
    }
}
