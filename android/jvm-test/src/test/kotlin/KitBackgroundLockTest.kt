package org.zhangban.jvmtest

import java.io.File
import java.nio.file.Files
import kotlin.test.AfterTest
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.zhangban.kit.AesGcmKeyVault
import org.zhangban.kit.Zhangban
import uniffi.zhangban_ffi.ZhangbanException

/**
 * Lock on background through the kit's lifecycle hooks (the Android host calls them from `onStop` / `onStart`):
 * the delay is the core's (`lockAfterBackground`), the store forgets its keys when it runs out, coming back
 * first cancels it, and a store without a PIN is never locked.
 */
class KitBackgroundLockTest {
    private val tmp: File = Files.createTempDirectory("zhangban-kit-lock-").toFile()

    @AfterTest
    fun cleanup() {
        tmp.deleteRecursively()
    }

    /** A delay the test releases by hand; records the seconds the kit asked for. */
    private class Gate {
        val asked = CompletableDeferred<Long>()
        val release = CompletableDeferred<Unit>()
        val wait: suspend (Long) -> Unit = { secs -> asked.complete(secs); release.await() }
    }

    @Test
    fun theStoreLocksAfterTheCoresDelayUnlessTheAppCameBack() = runBlocking {
        val key = aesKey()
        val z = Zhangban.open(File(tmp, "pin").path, AesGcmKeyVault { key }, "246810", "http://127.0.0.1:9")
        assertFalse(z.locked.value)
        assertEquals(30u, z.store.lockAfterBackground(), "the core's default with a PIN")

        // Back before the delay ran out: nothing locks, even when the delay ends afterwards.
        val early = Gate()
        z.onBackground(early.wait)
        assertEquals(30L, withTimeout(5_000) { early.asked.await() })
        z.onForeground()
        early.release.complete(Unit)
        Thread.sleep(200)
        assertFalse(z.isLocked(), "came back in time")
        z.drafts() // the store still reads

        // The person's setting (in the core) is the delay; when it runs out the keys are gone.
        z.store.setLockAfterBackground(5u)
        val late = Gate()
        z.onBackground(late.wait)
        assertEquals(5L, withTimeout(5_000) { late.asked.await() })
        late.release.complete(Unit)
        withTimeout(5_000) { while (!z.locked.value) Thread.sleep(10) }
        assertTrue(z.isLocked())
        val e = runCatching { z.drafts() }.exceptionOrNull()
        assertTrue(e is ZhangbanException.Locked, "a locked store reads nothing: $e")
        z.onForeground() // back on screen: the PIN screen, the store stays locked
        assertTrue(z.isLocked())
        z.unlock("246810")
        assertFalse(z.locked.value)

        // With the real timer: 0 s locks at once.
        z.store.setLockAfterBackground(0u)
        z.onBackground()
        withTimeout(5_000) { while (!z.locked.value) Thread.sleep(10) }
        z.close()
    }

    @Test
    fun aStoreWithoutAPinIsNeverLocked() = runBlocking {
        val key = aesKey()
        val z = Zhangban.open(File(tmp, "nopin").path, AesGcmKeyVault { key }, null, "http://127.0.0.1:9")
        assertNull(z.store.lockAfterBackground())
        val gate = Gate()
        z.onBackground(gate.wait)
        Thread.sleep(300)
        assertFalse(gate.asked.isCompleted, "no delay asked for: nothing to lock")
        assertFalse(z.isLocked())
        z.close()
    }
}
