package org.zhangban.kit

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.flow.flowOn
import uniffi.zhangban_ffi.ZhangbanWallet
import uniffi.zhangban_ffi.renderQr
import uniffi.zhangban_wallet.PresentationOut
import uniffi.zhangban_wallet.Preset
import uniffi.zhangban_wallet.QrImage

/**
 * 亮证 on a screen: a licence as a short-lived presentation QR code, redrawn before it lapses so that a
 * screenshot stops working. The code, its validity window and the disclosed fields come from the core
 * (`ZhangbanWallet.present`, `renderQr`); this class only schedules and draws.
 */
class QrPresenter(
    private val wallet: ZhangbanWallet,
    private val io: CoroutineDispatcher,
    /** Waits that many seconds before the next code (tests step a `ZhangbanTestClock` instead). */
    private val wait: suspend (Long) -> Unit = { delay(it * 1000) },
) {
    /** A presentation and its QR modules. */
    data class Shown(val code: PresentationOut, val qr: QrImage) {
        /** When to draw the next code (Unix seconds; the core says: half-way through the window). */
        val refreshAt: Long get() = code.refreshAt

        /** Seconds from drawing this code to drawing the next (the core's times; no clock read here). */
        val refreshIn: Long get() = (code.refreshAt - code.notBefore).coerceAtLeast(1)

        /** Seconds of validity left at [now]. */
        fun secondsLeft(now: Long): Long = (code.notAfter - now).coerceAtLeast(0)
    }

    /** One presentation now (the store's clock). `ZhangbanException.Licence` / `.Storage` (device key refused). */
    fun present(licenceId: String, preset: Preset, purpose: String? = null): Shown {
        val code = wallet.present(licenceId, preset, purpose)
        return Shown(code, renderQr(code.qrText))
    }

    /** Presentations, a fresh one at each [Shown.refreshAt], for as long as the screen collects. */
    fun codes(licenceId: String, preset: Preset, purpose: String? = null): Flow<Shown> =
        flow {
            while (true) {
                val shown = present(licenceId, preset, purpose)
                emit(shown)
                wait(shown.refreshIn)
            }
        }.flowOn(io)
}

/** A QR code as ARGB pixels, row-major, [size] × [size]. */
class QrPixels(val size: Int, val argb: IntArray) {
    fun isDark(x: Int, y: Int): Boolean = argb[y * size + x] == DARK
}

const val DARK: Int = 0xFF000000.toInt()
const val LIGHT: Int = 0xFFFFFFFF.toInt()

/**
 * Draws the modules with a [quiet]-module light border, [scale] pixels per module: on Android,
 * `Bitmap.createBitmap(p.argb, p.size, p.size, Bitmap.Config.ARGB_8888)`; scale it up with filtering off.
 */
fun QrImage.toPixels(scale: Int = 8, quiet: Int = 4): QrPixels {
    require(scale >= 1 && quiet >= 0) { "scale ≥ 1 and quiet ≥ 0" }
    val w = width.toInt()
    require(modules.size == w * w) { "expected ${w * w} modules, got ${modules.size}" }
    val size = (w + 2 * quiet) * scale
    val px = IntArray(size * size) { LIGHT }
    for (my in 0 until w) {
        for (mx in 0 until w) {
            if (!modules[my * w + mx]) continue
            val x0 = (mx + quiet) * scale
            val y0 = (my + quiet) * scale
            for (y in y0 until y0 + scale) {
                px.fill(DARK, y * size + x0, y * size + x0 + scale)
            }
        }
    }
    return QrPixels(size, px)
}
