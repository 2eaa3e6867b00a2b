package org.zhangban.jvmtest

import java.io.File
import java.nio.file.Files
import kotlin.test.AfterTest
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import org.zhangban.kit.AesGcmKeyVault
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
}
