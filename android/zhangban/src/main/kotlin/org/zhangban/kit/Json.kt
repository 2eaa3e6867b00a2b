package org.zhangban.kit

import java.math.BigDecimal
import kotlinx.serialization.SerializationException
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.JsonUnquotedLiteral
import kotlinx.serialization.json.booleanOrNull
import kotlinx.serialization.json.Json as KJson

/**
 * The JSON text the FFI uses for form values (`ZhangbanDraft.set(path, value)`, `FieldState.value`,
 * `profileSet`, `Submission.values`), mapped to and from plain Kotlin values over
 * kotlinx-serialization-json's tree (its parser and printer; only the mapping is here). A value codec only;
 * what a value means is the core's business.
 *
 * Kotlin ⇄ JSON: `null` ⇄ null, [String] ⇄ string, [Boolean] ⇄ true/false, [Int]/[Long]/[Double]/[BigDecimal]
 * → number (decoded as [Long] when integral and in range, else [BigDecimal]), [List]/[Array] ⇄ array,
 * [Map] with string keys ⇄ object (insertion order kept).
 */
object Json {
    /** Limits: deeper or longer input is refused with [JsonException]. */
    const val MAX_DEPTH = 64
    const val MAX_LENGTH = 1 shl 20

    private val format = KJson { allowSpecialFloatingPointValues = false }

    fun encode(value: Any?): String = format.encodeToString(JsonElement.serializer(), toElement(value, 0))

    fun decode(text: String): Any? {
        if (text.length > MAX_LENGTH) throw JsonException("longer than $MAX_LENGTH characters")
        val tree = try {
            format.parseToJsonElement(text)
        } catch (e: SerializationException) {
            throw JsonException(e.message ?: "not JSON")
        }
        return fromElement(tree, 0)
    }

    /** The text a screen shows for a value: a string as is, `null` as "", anything else as JSON. */
    fun display(valueJson: String): String =
        when (val v = runCatching { decode(valueJson) }.getOrElse { return valueJson }) {
            null -> ""
            is String -> v
            else -> encode(v)
        }

    private fun toElement(v: Any?, depth: Int): JsonElement {
        if (depth > MAX_DEPTH) throw JsonException("nested deeper than $MAX_DEPTH")
        return when (v) {
            null -> JsonNull
            is String -> JsonPrimitive(v)
            is Char -> JsonPrimitive(v.toString())
            is Boolean -> JsonPrimitive(v)
            is Int, is Long, is Short, is Byte -> JsonPrimitive(v as Number)
            is UInt -> JsonPrimitive(v.toLong())
            is ULong -> JsonUnquotedLiteral(v.toString())
            is BigDecimal -> JsonUnquotedLiteral(v.toPlainString())
            is Double -> number(v)
            is Float -> number(v.toDouble())
            is Map<*, *> -> JsonObject(
                v.entries.associate { (k, x) ->
                    if (k !is String) throw JsonException("object keys must be strings, not ${k?.javaClass?.name}")
                    k to toElement(x, depth + 1)
                },
            )
            is Iterable<*> -> JsonArray(v.map { toElement(it, depth + 1) })
            is Array<*> -> JsonArray(v.map { toElement(it, depth + 1) })
            else -> throw JsonException("cannot encode ${v.javaClass.name}")
        }
    }

    private fun number(d: Double): JsonElement {
        if (d.isNaN() || d.isInfinite()) throw JsonException("$d is not a JSON number")
        return JsonUnquotedLiteral(BigDecimal.valueOf(d).stripTrailingZeros().toPlainString())
    }

    private fun fromElement(e: JsonElement, depth: Int): Any? {
        if (depth > MAX_DEPTH) throw JsonException("nested deeper than $MAX_DEPTH")
        return when (e) {
            is JsonNull -> null
            is JsonObject -> e.mapValuesTo(LinkedHashMap()) { (_, x) -> fromElement(x, depth + 1) }
            is JsonArray -> e.map { fromElement(it, depth + 1) }
            is JsonPrimitive -> when {
                e.isString -> e.content
                e.booleanOrNull != null -> e.booleanOrNull
                else -> {
                    val n = e.content.toBigDecimalOrNull() ?: throw JsonException("not a number: ${e.content}")
                    runCatching { n.longValueExact() }.getOrElse { n }
                }
            }
        }
    }
}

class JsonException(message: String) : IllegalArgumentException(message)
