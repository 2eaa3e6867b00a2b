package org.zhangban.kit

import java.util.Locale
import uniffi.zhangban_ffi.CaseNotice
import uniffi.zhangban_ffi.CaseSummary
import uniffi.zhangban_ffi.CatalogHit
import uniffi.zhangban_ffi.ChecklistInfo
import uniffi.zhangban_ffi.ChecklistLine
import uniffi.zhangban_ffi.FieldInfo
import uniffi.zhangban_ffi.FormIssue
import uniffi.zhangban_ffi.MaterialInfo
import uniffi.zhangban_ffi.NeededItem
import uniffi.zhangban_ffi.TimelineItem
import uniffi.zhangban_ffi.ZhangbanException
import uniffi.zhangban_base.Text
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

/** The notification text of a [CaseNotice] (from `CaseListener.onNotice`) in [lang]. */
fun CaseNotice.text(lang: Lang): NoticeText = NoticeText(lang.pick(titleZh, titleEn), lang.pick(bodyZh, bodyEn))

/** What happened and what to do, in [lang] (the core's `text_zh()` / `text_en()`). */
fun ZhangbanException.text(lang: Lang): String = lang.pick(textZh(), textEn())

fun CaseSummary.stateText(lang: Lang): String = lang.pick(stateZh, stateEn)

fun NeededItem.text(lang: Lang): String = lang.pick(textZh, textEn)

fun FormIssue.message(lang: Lang): String = lang.pick(messageZh, messageEn)

fun FieldInfo.label(lang: Lang): String = lang.pick(labelZh, labelEn)

fun MaterialInfo.name(lang: Lang): String = lang.pick(nameZh, nameEn)

/** Where the material stands, as the core words it (免提交 / 已上传 / 容缺后补 …). */
fun MaterialInfo.statusText(lang: Lang): String = lang.pick(statusZh, statusEn)

fun FieldInfo.help(lang: Lang): String? = if (lang == Lang.ZH) helpZh else helpEn

/** The field's problems in [lang]. */
fun FieldInfo.issues(lang: Lang): List<String> = if (lang == Lang.ZH) issuesZh else issuesEn

fun TimelineItem.stateText(lang: Lang): String = lang.pick(stateZh, stateEn)

fun CatalogHit.name(lang: Lang): String = lang.pick(nameZh, nameEn)

fun ChecklistInfo.name(lang: Lang): String = lang.pick(nameZh, nameEn)

fun ChecklistLine.title(lang: Lang): String = lang.pick(titleZh, titleEn)

fun ChecklistLine.why(lang: Lang): String = lang.pick(whyZh, whyEn)

fun LicenceSummary.issuerName(lang: Lang): String = lang.pick(issuer.nameZh, issuer.nameEn)
