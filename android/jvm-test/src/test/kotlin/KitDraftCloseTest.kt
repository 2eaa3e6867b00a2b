package org.zhangban.jvmtest

import java.io.File
import java.nio.file.Files
import kotlin.test.AfterTest
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.launch
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import org.zhangban.kit.AesGcmKeyVault
import org.zhangban.kit.DraftForm
import org.zhangban.kit.Zhangban

/**
 * A form screen leaves (back, another tab, submitted) and closes its DraftForm while per-keystroke edits are
 * still running on the IO pool. Before the fix, close() freed the native draft at once: the edits in flight
 * then failed with the generated code's IllegalStateException ("already destroyed"), which no screen catches.
 */
class KitDraftCloseTest {
    private val tmp: File = Files.createTempDirectory("zhangban-kit-close-").toFile()

    @AfterTest
    fun cleanup() {
        tmp.deleteRecursively()
    }

    @Test
    fun closeDuringEditsWaitsForTheEditInFlightAndCancelsTheRest() = runBlocking {
        val key = aesKey()
        val z = Zhangban.open(File(tmp, "store").path, AesGcmKeyVault { key }, null, "http://127.0.0.1:9")
        val form = z.startDraft("SJ-002")
        val id = form.id
        val typed = (1..40).map { "1380013" + it.toString().padStart(4, '0') }
        val edits = typed.map { text -> async(Dispatchers.IO) { runCatching { form.set("applicant.phone", text) } } }
        form.close() // the screen left while the edits run
        val results = edits.awaitAll()
        val failures = results.mapNotNull { it.exceptionOrNull() }
        assertTrue(failures.all { it is CancellationException }, "edits after close are cancelled, not crashed: $failures")
        assertTrue(form.isClosed)
        assertFailsWith<CancellationException> { form.set("applicant.phone", "13900139000") }
        form.close() // twice: nothing

        // What was stored is one of the edits that ran before the close, never a torn value.
        val saved = z.resumeDraft(id).use { it.value("applicant.phone") }
        val done = results.indices.filter { results[it].isSuccess }.map { typed[it] }
        if (done.isEmpty()) assertEquals(null, saved) else assertTrue(saved in done, "$saved in $done")
        assertFalse(z.isLocked())
        z.close()
    }

    /**
     * A form screen leaves (back, another tab) while its draft is still opening: the draft was made on the IO
     * pool, but the caller was cancelled before it got it, and nobody ever closed it (issue 13: "DraftForm
     * leaks when leaving the tab"). Made deterministic: the caller's thread is held busy until the draft exists,
     * then the caller is cancelled, so it resumes cancelled with the draft made.
     *
     * The kit's IO pool is the test's own single thread, held until the caller has suspended: when the pool
     * made the draft before the caller reached its suspension, kotlinx's `withContext` handed the result over
     * on the caller's own thread without suspending (no cancellation point), the form was opened and closed
     * between two polls, and the test waited 60 s for an opening it had missed (CI, 2026-12-07).
     */
    @Test
    fun aDraftOpenedForAScreenThatLeftMeanwhileIsClosed() = runBlocking {
        val key = aesKey()
        val pool = Executors.newSingleThreadExecutor()
        val z = Zhangban.open(
            File(tmp, "store").path, AesGcmKeyVault { key }, null, "http://127.0.0.1:9", io = pool.asCoroutineDispatcher(),
        )
        val id = z.startDraft("SJ-002").use { it.id }
        val before = DraftForm.open
        val caller = Executors.newSingleThreadExecutor()
        try {
            for (opening in listOf<suspend () -> DraftForm>({ z.resumeDraft(id) }, { z.startDraft("SJ-002") })) {
                val poolGate = CountDownLatch(1)
                pool.execute { poolGate.await() } // the draft is made only once the caller has suspended
                val gate = CountDownLatch(1)
                caller.execute { gate.await() } // the screen's thread is busy: the opened form waits to be handed over
                // UNDISPATCHED: runs on this thread up to its first suspension (the opening queued on the pool)
                val job = launch(caller.asCoroutineDispatcher(), start = CoroutineStart.UNDISPATCHED) { opening().close() }
                poolGate.countDown()
                val end = System.currentTimeMillis() + 60_000 // generous: a loaded 2-core CI machine took more than 10 s
                while (DraftForm.open == before) {
                    check(System.currentTimeMillis() < end) { "the draft never opened" }
                    Thread.sleep(2)
                }
                job.cancel() // the screen left
                gate.countDown()
                job.join()
                assertEquals(before, DraftForm.open, "the form the cancelled screen never got is closed")
            }
        } finally {
            caller.shutdown()
        }
        z.close()
        pool.shutdown()
    }
}
