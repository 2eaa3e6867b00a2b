package org.zhangban.kit

import java.util.Locale
import uniffi.zhangban_base.Notice
import uniffi.zhangban_base.Text
import uniffi.zhangban_ffi.LicenceElement
import uniffi.zhangban_ffi.LicenceItem
import uniffi.zhangban_ffi.VerificationOutcome
import uniffi.zhangban_ffi.ZhangbanException

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

fun LicenceItem.typeName(lang: Lang): String = lang.pick(typeNameZh, typeNameEn)

fun LicenceItem.issuerName(lang: Lang): String = lang.pick(issuer.nameZh, issuer.nameEn)

/** 有效 / 即将到期 / 已注销 …, as the core words it. */
fun LicenceItem.statusText(lang: Lang): String = lang.pick(statusZh, statusEn)

fun LicenceElement.name(lang: Lang): String = lang.pick(nameZh, nameEn)

/** Why a scanned code was refused, in [lang]; `null` when it was accepted. */
fun VerificationOutcome.reason(lang: Lang): String? =
    if (accepted) null else lang.pick(reasonZh ?: reasonCode ?: "", reasonEn ?: reasonCode ?: "")
