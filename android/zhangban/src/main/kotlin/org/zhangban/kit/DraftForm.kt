package org.zhangban.kit

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.withContext
import uniffi.zhangban_ffi.ChecklistInfo
import uniffi.zhangban_ffi.FieldInfo
import uniffi.zhangban_ffi.FillSummary
import uniffi.zhangban_ffi.FormIssue
import uniffi.zhangban_ffi.MaterialInfo
import uniffi.zhangban_ffi.ZhangbanDraft
import uniffi.zhangban_ffi.ZhangbanStore

/**
 * A form screen's view of one draft (`ZhangbanDraft`): the visible fields in order, the fill summary, every
 * problem at once and the materials, as one [StateFlow] reloaded after each edit. Every edit is saved,
 * encrypted, by the core before the call returns (autosave); a refused edit throws the core's
 * `ZhangbanException.Validation` naming the field and leaves the draft as it was.
 *
 * Edits run one at a time, in the order they were called (a fair lock), so a text box that sends every
 * keystroke never stores an older text over a newer one.
 *
 * Values go in as Kotlin values ([Json.encode]: a typed text is sent as the string the person typed; the
 * core reads numbers, dates and choices out of it and says what is wrong). Nothing here decides what is
 * required, valid or visible: that comes back from the core in [State].
 */
class DraftForm internal constructor(
    private val store: ZhangbanStore,
    /** The generated draft object (for what this helper does not wrap). */
    val draft: ZhangbanDraft,
    private val io: CoroutineDispatcher,
) : AutoCloseable {
    /** Everything a form screen draws. */
    data class State(
        val id: String,
        val target: String,
        /** Visible fields, in the order of the form. */
        val fields: List<FieldInfo>,
        val summary: FillSummary,
        /** Every problem, blocking or not, each naming its field path (or `material:CODE`). */
        val issues: List<FormIssue>,
        val materials: List<MaterialInfo>,
        /** True when nothing blocks submission. */
        val complete: Boolean,
        /** The case this draft became, once submitted (the draft is then read-only). */
        val submittedCaseId: String?,
    ) {
        fun field(path: String): FieldInfo? = fields.firstOrNull { it.path == path }

        fun issuesFor(path: String): List<FormIssue> = issues.filter { it.path == path }

        val blocking: List<FormIssue> get() = issues.filter { it.blocking }
    }

    private val _state = MutableStateFlow(load())
    private val lock = Mutex()

    val state: StateFlow<State> = _state.asStateFlow()

    val id: String get() = _state.value.id

    private fun load(): State =
        State(
            id = draft.id(),
            target = draft.target(),
            fields = draft.fields().filter { it.visible },
            summary = draft.summary(),
            issues = draft.validate(),
            materials = draft.materials(),
            complete = draft.isComplete(),
            submittedCaseId = draft.submittedCaseId(),
        )

    /** Runs [block] on the draft under the edit lock (a submission, for instance: never after [close]). */
    internal suspend fun <T> withDraft(block: (ZhangbanDraft) -> T): T = locked { block(draft) }

    /** Reloads the state from the core (after a submission, for instance). */
    suspend fun reload(): State = locked { load().also { _state.value = it } }

    private suspend fun edit(change: () -> Unit): State = locked {
        change()
        load().also { _state.value = it }
    }

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
                    draft.close()
                }
                lock.unlock()
            }
        }
    }

    /** Sets a field to a Kotlin value (`null` clears it). */
    suspend fun set(path: String, value: Any?): State = edit { draft.set(path, Json.encode(value)) }

    /** Sets a field on a principal's behalf, recorded as entered by [agent]. */
    suspend fun setAsAgent(path: String, value: Any?, agent: String): State =
        edit { draft.setAsAgent(path, Json.encode(value), agent) }

    /** Confirms a prefilled value the core marked as possibly out of date. */
    suspend fun confirm(path: String): State = edit { draft.confirm(path) }

    /** Adds an entry to a repeat group (`household.members`); returns its index. */
    suspend fun addInstance(group: String): Int {
        var index = 0
        edit { index = draft.addInstance(group).toInt() }
        return index
    }

    suspend fun removeInstance(group: String, index: Int): State =
        edit { draft.removeInstance(group, index.toUInt()) }

    /** Encrypts [data] into the store and attaches it as material [code]. */
    suspend fun attach(code: String, name: String, data: ByteArray, subject: String): State =
        edit { draft.attachMaterial(code, store.writeAttachment(subject, name, data).id) }

    /** Encrypts the file at [path] (streamed) into the store and attaches it as material [code]. */
    suspend fun attachFile(code: String, name: String, path: String, subject: String): State =
        edit { draft.attachMaterial(code, store.writeAttachmentFromPath(subject, name, path).id) }

    /** Signs a commitment (告知承诺) instead of material [code], where the item allows it. */
    suspend fun commit(code: String): State = edit { draft.commitMaterial(code) }

    /** Supplies material [code] later (容缺), where the item allows it. */
    suspend fun defer(code: String): State = edit { draft.deferMaterial(code) }

    suspend fun clearMaterial(code: String): State = edit { draft.clearMaterial(code) }

    /** The value at [path] decoded ([Json.decode]); `null` when empty. */
    suspend fun value(path: String): Any? = withContext(io) { Json.decode(draft.valueJson(path)) }

    /** 一次性告知 for this draft: what is still needed, and why. */
    suspend fun checklist(): ChecklistInfo = withContext(io) { draft.checklist() }

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
}

/** The field's value as a screen shows it (text as typed, lists as JSON, empty as ""). */
val FieldInfo.displayValue: String get() = Json.display(valueJson)
