package org.zhangban.kit

import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.withContext
import uniffi.zhangban_ffi.ZhangbanDraft
import uniffi.zhangban_ffi.ZhangbanStore
import uniffi.zhangban_forms.Checklist
import uniffi.zhangban_forms.DraftState
import uniffi.zhangban_forms.FieldState
import uniffi.zhangban_forms.Issue
import uniffi.zhangban_forms.Severity

/**
 * A form screen's view of one draft (`ZhangbanDraft`): the core's [DraftState] (visible fields with their
 * display text, editability and lock reason, every problem, the materials with the actions allowed, the
 * summary), as one [StateFlow]. Every edit is one FFI call that saves the edit, encrypted, and returns the
 * new state (autosave); a refused edit throws the core's `ZhangbanException.Validation` naming the field and
 * leaves the draft as it was.
 *
 * Edits run one at a time, in the order they were called (a fair lock), so a text box that sends every
 * keystroke never stores an older text over a newer one.
 *
 * Values go in as Kotlin values ([Json.encode]: a typed text is sent as the string the person typed; the
 * core reads numbers, dates and choices out of it and says what is wrong). Nothing here decides what is
 * required, valid, visible or editable: that comes back from the core in [DraftState].
 */
class DraftForm internal constructor(
    private val store: ZhangbanStore,
    /** The generated draft object (for what this helper does not wrap). */
    val draft: ZhangbanDraft,
    private val io: CoroutineDispatcher,
) : AutoCloseable {
    private val _state = MutableStateFlow(draft.state())
    private val lock = Mutex()

    init {
        live.incrementAndGet()
    }

    val state: StateFlow<DraftState> = _state.asStateFlow()

    val id: String get() = _state.value.id

    /** Runs [block] on the draft under the edit lock (a submission, for instance: never after [close]). */
    internal suspend fun <T> withDraft(block: (ZhangbanDraft) -> T): T = locked { block(draft) }

    /** Reloads the state from the core (after a submission, for instance). */
    suspend fun reload(): DraftState = edit { draft.state() }

    private suspend fun edit(change: () -> DraftState): DraftState = locked { change().also { _state.value = it } }

    // close() from the UI thread while an edit runs on the IO pool: the draft is closed by whoever holds
    // the lock last (close itself when it is free, else the edit in flight when it ends), never under an edit.
    private val closeLock = Any()
    private var closeRequested = false
    private var closed = false

    private suspend fun <T> locked(block: () -> T): T {
        lock.lock()
        try {
            // the screen that owned it has gone: the edit is cancelled with it
            synchronized(closeLock) { if (closed || closeRequested) throw CancellationException("the draft form is closed") }
            return withContext(io) { block() }
        } finally {
            synchronized(closeLock) {
                if (closeRequested && !closed) {
                    closed = true
                    live.decrementAndGet()
                    draft.close()
                }
                lock.unlock()
            }
        }
    }

    /** Sets a field to a Kotlin value (`null` clears it). */
    suspend fun set(path: String, value: Any?): DraftState = edit { draft.set(path, Json.encode(value)) }

    /** Confirms a prefilled value the core marked as possibly out of date. */
    suspend fun confirm(path: String): DraftState = edit { draft.confirm(path) }

    /** Adds an entry to a repeat group (`household.members`); its fields are `group[N].…`, N the last index. */
    suspend fun addInstance(group: String): DraftState = edit { draft.addInstance(group) }

    suspend fun removeInstance(group: String, index: Int): DraftState =
        edit { draft.removeInstance(group, index.toUInt()) }

    /** Encrypts [data] into the store and attaches it as material [code]. */
    suspend fun attach(code: String, name: String, data: ByteArray, subject: String): DraftState =
        edit { draft.attachMaterial(code, store.writeAttachment(subject, name, data).id) }

    /** Encrypts the file at [path] (streamed) into the store and attaches it as material [code]. */
    suspend fun attachFile(code: String, name: String, path: String, subject: String): DraftState =
        edit { draft.attachMaterial(code, store.writeAttachmentFromPath(subject, name, path).id) }

    /** Attaches material [code] already written to the store (an agent's photo for a principal: `AgentMode.attach`). */
    suspend fun attachMaterial(code: String, attachmentId: String): DraftState =
        edit { draft.attachMaterial(code, attachmentId) }

    /** Signs a commitment (告知承诺) instead of material [code], where the item allows it. */
    suspend fun commit(code: String): DraftState = edit { draft.commitMaterial(code) }

    /** Supplies material [code] later (容缺), where the item allows it. */
    suspend fun defer(code: String): DraftState = edit { draft.deferMaterial(code) }

    suspend fun clearMaterial(code: String): DraftState = edit { draft.clearMaterial(code) }

    /** The value of visible field [path] decoded ([Json.decode]); `null` when empty. */
    fun value(path: String): Any? = _state.value.field(path)?.let { Json.decode(it.value) }

    /** 一次性告知 for this draft: what is still needed, and why. */
    suspend fun checklist(): Checklist = withContext(io) { draft.checklist() }

    /** Deletes the draft and its saved edits. */
    suspend fun discard() = withContext(io) { draft.discard() }

    /**
     * Frees the native draft (its edits are saved already). Safe from any thread while an edit runs: the
     * draft is closed when that edit ends, and edits called after this fail instead of touching a freed
     * object. Closing twice does nothing.
     */
    override fun close() {
        synchronized(closeLock) {
            if (closed || closeRequested) return
            if (lock.tryLock()) {
                closed = true
                live.decrementAndGet()
                try {
                    draft.close()
                } finally {
                    lock.unlock()
                }
            } else {
                closeRequested = true
            }
        }
    }

    /** True once [close] has freed the draft. */
    val isClosed: Boolean get() = synchronized(closeLock) { closed }

    companion object {
        private val live = AtomicInteger()

        /** How many forms are open (made and not closed) in this process: a leak shows here (tests check it). */
        val open: Int get() = live.get()
    }
}

fun DraftState.field(path: String): FieldState? = fields.firstOrNull { it.path == path }

/** Problems of a field path (or `material:CODE`). */
fun DraftState.issuesFor(path: String): List<Issue> = issues.filter { it.path == path }

/** The problems that block submission. */
val DraftState.blocking: List<Issue> get() = issues.filter { it.severity == Severity.ERROR }
