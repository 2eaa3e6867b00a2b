package org.zhangban.kit

import java.util.Locale
import uniffi.zhangban_base.Notice
import uniffi.zhangban_base.Text
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_wallet.LicenceSummary

/**
 * Which of the two texts the core writes (Chinese, English) a screen shows. Every text a person reads comes
 * from the core in both languages; the shell only picks one.
 */
enum class Lang {
    ZH,
    EN;

    fun pick(zh: String, en: String): String = if (this == ZH) zh else en

    /** The core's bilingual [Text] in this language. */
    fun pick(text: Text): String = pick(text.zh, text.en)

    companion object {
        /** Chinese for every `zh` locale (zh-CN, zh-TW, zh-Hant-HK, …), English otherwise. */
        fun of(locale: Locale): Lang = if (locale.language == "zh") ZH else EN

        fun current(): Lang = of(Locale.getDefault())
    }
}

/** A notification's title and body in one language. */
data class NoticeText(val title: String, val body: String)

/** The notification text of a [Notice] (from `CaseListener.onNotice`) in [lang]. */
fun Notice.text(lang: Lang): NoticeText = NoticeText(lang.pick(titleZh, titleEn), lang.pick(bodyZh, bodyEn))

/** What happened and what to do, in [lang] (the core's `text_zh()` / `text_en()`). */
fun ZhangbanException.text(lang: Lang): String = lang.pick(textZh(), textEn())

fun LicenceSummary.issuerName(lang: Lang): String = lang.pick(issuer.nameZh, issuer.nameEn)
