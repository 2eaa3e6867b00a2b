package org.zhangban.jvmtest

import java.io.File
import java.math.BigDecimal
import java.nio.file.Files
import java.util.Locale
import kotlin.test.Test
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotEquals
import kotlin.test.assertTrue
import kotlinx.coroutines.joinAll
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import org.zhangban.kit.AesGcmKeyVault
import org.zhangban.kit.Zhangban
import org.zhangban.kit.field
import org.zhangban.kit.Json
import org.zhangban.kit.JsonException
import org.zhangban.kit.Lang
import org.zhangban.kit.text
import org.zhangban.kit.toPixels
import uniffi.zhangban_ffi.KeyVaultException
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_ffi.renderQr

/** The Kotlin layer's own helpers: the JSON value codec, the language choice, the AES-GCM vault, QR pixels. */
class KitUnitTest {
    @Test
    fun jsonRoundTripsFormValues() {
        val v = mapOf(
            "name" to "王晓明 \"小明\"\n\\",
            "employees" to 2,
            "fee" to 12.5,
            "ok" to true,
            "none" to null,
            "choices" to listOf("official", "合伙"),
            "nested" to mapOf("a" to listOf(1L, 2L, mapOf("b" to false))),
            "ctrl" to "\u0001",
        )
        val text = Json.encode(v)
        assertTrue(text.contains("\\u0001") && text.contains("\\\"小明\\\""), text)
        val back = Json.decode(text)
        assertEquals(v.toMutableMap().apply { put("employees", 2L); put("fee", BigDecimal("12.5")) }, back)
        assertEquals("猫", Json.decode("\"\\u732b\""))
        assertEquals("12.5", Json.encode(12.50))
        assertEquals("王晓明", Json.display("\"王晓明\""))
        assertEquals("", Json.display("null"))
        assertEquals("[\"a\"]", Json.display("[ \"a\" ]"))
    }

    @Test
    fun jsonRefusesWhatIsNotJsonAndBoundsDepth() {
        for (bad in listOf("", "{", "[1,]", "{\"a\" 1}", "\"open", "tru", "1 2", "\"\\x\"", "-", "[1}")) {
            assertFailsWith<JsonException>(bad) { Json.decode(bad) }
        }
        assertFailsWith<JsonException> { Json.decode("[".repeat(Json.MAX_DEPTH + 2) + "]".repeat(Json.MAX_DEPTH + 2)) }
        assertEquals(1, (Json.decode("[".repeat(10) + "1" + "]".repeat(10)) as List<*>).size)
        assertFailsWith<JsonException> { Json.encode(Double.NaN) }
        assertFailsWith<JsonException> { Json.encode(mapOf(1 to 2)) }
        assertFailsWith<JsonException> { Json.encode(Any()) }
    }

    @Test
    fun languageFollowsTheLocaleAndTextsComeFromTheCore() {
        assertEquals(Lang.ZH, Lang.of(Locale.SIMPLIFIED_CHINESE))
        assertEquals(Lang.ZH, Lang.of(Locale.forLanguageTag("zh-Hant-HK")))
        assertEquals(Lang.EN, Lang.of(Locale.US))
        assertEquals(Lang.EN, Lang.of(Locale.FRANCE))
        val e = ZhangbanException.NotFound("case ZB1")
        assertEquals(e.textZh(), e.text(Lang.ZH))
        assertEquals(e.textEn(), e.text(Lang.EN))
        assertNotEquals(e.text(Lang.ZH), e.text(Lang.EN))
        assertTrue(e.text(Lang.EN).contains("ZB1"))
    }

    @Test
    fun aesGcmVaultRoundTripsAndRefusesForeignBlobs() {
        val key = aesKey()
        val vault = AesGcmKeyVault { key }
        val secret = ByteArray(32) { it.toByte() }
        val a = vault.wrap("store-1", secret)
        val b = vault.wrap("store-1", secret)
        assertFalse(a.contentEquals(b), "a fresh IV each time")
        assertEquals(1 + 12 + 32 + 16, a.size)
        assertContentEquals(secret, vault.unwrap("store-1", a))
        assertFailsWith<KeyVaultException.UnwrapFailed> { vault.unwrap("store-2", a) }
        assertFailsWith<KeyVaultException.UnwrapFailed> { AesGcmKeyVault { aesKey() }.unwrap("store-1", a) }
        assertFailsWith<KeyVaultException.UnwrapFailed> { vault.unwrap("store-1", a.copyOf(20)) }
        val flipped = a.copyOf().also { it[20] = (it[20].toInt() xor 1).toByte() }
        assertFailsWith<KeyVaultException.UnwrapFailed> { vault.unwrap("store-1", flipped) }
        // The platform cannot give the key now (user not authenticated, …): Unavailable, not UnwrapFailed.
        val absent = AesGcmKeyVault { throw java.security.KeyStoreException("locked") }
        assertFailsWith<KeyVaultException.Unavailable> { absent.wrap("store-1", secret) }
        assertFailsWith<KeyVaultException.Unavailable> { absent.unwrap("store-1", a) }
    }

    @Test
    fun formEditsAreStoredInTheOrderTheyWereMade() = runBlocking {
        val dir = Files.createTempDirectory("zhangban-kit-order-").toFile()
        try {
            val z = Zhangban.open(File(dir, "s").path, AesGcmKeyVault { aesKey() }, null, "http://127.0.0.1:9")
            val form = z.startDraft("SJ-002")
            // A text box sending every keystroke: 40 edits launched at once, each on the IO pool.
            val typed = "北京市朝阳区建国路88号1层商铺一二三四五六七八九十甲乙丙丁戊己庚辛壬癸"
            val jobs = (1..typed.length).map { n -> launch { form.set("enterprise.address", typed.take(n)) } }
            jobs.joinAll()
            assertEquals(typed, form.value("enterprise.address"))
            assertEquals(typed, Lang.ZH.pick(form.state.value.field("enterprise.address")!!.display))
            form.close()
            z.close()
        } finally {
            System.gc()
            dir.deleteRecursively()
        }
    }

    @Test
    fun qrPixelsFollowTheModules() {
        val q = renderQr("ZB1:TEST")
        val w = q.width.toInt()
        val p = q.toPixels(scale = 3, quiet = 4)
        assertEquals((w + 8) * 3, p.size)
        for (my in 0 until w) for (mx in 0 until w) {
            assertEquals(q.modules[my * w + mx], p.isDark((mx + 4) * 3 + 1, (my + 4) * 3 + 2), "module $mx,$my")
        }
        assertFalse(p.isDark(0, 0), "quiet zone")
        assertEquals("ZB1:TEST", decodeQr(p))
    }
}
