package org.zhangban.jvmtest

import java.io.File
import java.nio.file.Files
import java.util.concurrent.ConcurrentHashMap
import javax.crypto.SecretKey
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
 * the delay is the core's (`leftTheScreen`, which binds the changes first), the store forgets its keys when it
 * runs out, coming back first cancels it, and a store without a PIN is never locked.
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
        assertNull(z.store.leftTheScreen(), "no PIN: no delay")
        val gate = Gate()
        z.onBackground(gate.wait)
        Thread.sleep(300)
        assertFalse(gate.asked.isCompleted, "no delay asked for: nothing to lock")
        assertFalse(z.isLocked())
        z.close()
    }

    /**
     * ADR 0038: leaving the screen binds what changed since the last bind. Files copied before it (a draft
     * changed since), opened after the app was killed in the background (neither the lock nor a close ran),
     * are refused as a rollback; the vault destroys keys as the Keystore does.
     */
    @Test
    fun leavingTheScreenBindsSoACopyOfBeforeIsRefused() = runBlocking {
        val keys = ConcurrentHashMap<String, SecretKey>()
        val vault = AesGcmKeyVault(destroyKey = { keys.remove(it) }) { alias -> keys.getOrPut(alias) { aesKey() } }
        val dir = File(tmp, "app")
        val z = Zhangban.open(dir.path, vault, "246810", "http://127.0.0.1:9")
        val form = z.startDraft("SJ-002")
        form.set("applicant.phone", "13800138000")
        val copy = File(tmp, "copy")
        dir.copyRecursively(copy)
        form.set("applicant.phone", "13900139000")
        val gate = Gate()
        z.onBackground(gate.wait)
        assertEquals(30L, withTimeout(5_000) { gate.asked.await() })
        // Killed here: `z` is neither locked nor closed. Its files of before, opened with the same vault:
        val e = runCatching { Zhangban.open(copy.path, vault, "246810", "http://127.0.0.1:9") }.exceptionOrNull()
        assertTrue(e is ZhangbanException.RolledBack, "the copy of before was not refused: ${e ?: "it opened"}")
        assertFalse(z.isLocked(), "leaving the screen does not lock by itself")
        z.onForeground()
        form.close()
        z.close()
    }
}
