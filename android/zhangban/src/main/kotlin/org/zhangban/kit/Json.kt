package org.zhangban.kit

import java.math.BigDecimal

/**
 * The JSON text the FFI uses for form values (`ZhangbanDraft.set(path, valueJson)`, `FieldInfo.valueJson`,
 * `profileSet`, `SubmissionInput.valuesJson`): a small encoder from Kotlin values and a bounded decoder to
 * Kotlin values. A value codec only; what a value means is the core's business.
 *
 * Kotlin ⇄ JSON: `null` ⇄ null, [String] ⇄ string, [Boolean] ⇄ true/false, [Int]/[Long]/[Double]/[BigDecimal]
 * → number (decoded as [Long] when integral and in range, else [BigDecimal]), [List]/[Array] ⇄ array,
 * [Map] with string keys ⇄ object (insertion order kept).
 */
object Json {
    /** Decoding limits: deeper or longer input is refused with [JsonException]. */
    const val MAX_DEPTH = 64
    const val MAX_LENGTH = 1 shl 20

    fun encode(value: Any?): String = StringBuilder().also { write(it, value, 0) }.toString()

    private fun write(out: StringBuilder, v: Any?, depth: Int) {
        if (depth > MAX_DEPTH) throw JsonException("nested deeper than $MAX_DEPTH")
        when (v) {
            null -> out.append("null")
            is String -> quote(out, v)
            is Char -> quote(out, v.toString())
            is Boolean -> out.append(v)
            is Int, is Long, is Short, is Byte -> out.append(v.toString())
            is UInt, is ULong -> out.append(v.toString())
            is BigDecimal -> out.append(v.toPlainString())
            is Double -> number(out, v)
            is Float -> number(out, v.toDouble())
            is Map<*, *> -> {
                out.append('{')
                var first = true
                for ((k, x) in v) {
                    if (k !is String) throw JsonException("object keys must be strings, not ${k?.javaClass?.name}")
                    if (!first) out.append(',')
                    first = false
                    quote(out, k)
                    out.append(':')
                    write(out, x, depth + 1)
                }
                out.append('}')
            }
            is Iterable<*> -> array(out, v.iterator(), depth)
            is Array<*> -> array(out, v.iterator(), depth)
            else -> throw JsonException("cannot encode ${v.javaClass.name}")
        }
    }

    private fun array(out: StringBuilder, items: Iterator<*>, depth: Int) {
        out.append('[')
        var first = true
        for (x in items) {
            if (!first) out.append(',')
            first = false
            write(out, x, depth + 1)
        }
        out.append(']')
    }

    private fun number(out: StringBuilder, d: Double) {
        if (d.isNaN() || d.isInfinite()) throw JsonException("$d is not a JSON number")
        out.append(BigDecimal.valueOf(d).stripTrailingZeros().toPlainString())
    }

    private fun quote(out: StringBuilder, s: String) {
        out.append('"')
        for (c in s) {
            when (c) {
                '"' -> out.append("\\\"")
                '\\' -> out.append("\\\\")
                '\n' -> out.append("\\n")
                '\r' -> out.append("\\r")
                '\t' -> out.append("\\t")
                '\b' -> out.append("\\b")
                '\u000C' -> out.append("\\f")
                else -> if (c < ' ') out.append(String.format("\\u%04x", c.code)) else out.append(c)
            }
        }
        out.append('"')
    }

    fun decode(text: String): Any? {
        if (text.length > MAX_LENGTH) throw JsonException("longer than $MAX_LENGTH characters")
        val p = Parser(text)
        val v = p.value(0)
        p.skipSpace()
        if (p.i != text.length) throw JsonException("unexpected text at ${p.i}")
        return v
    }

    /** The text a screen shows for a value: a string as is, `null` as "", anything else as JSON. */
    fun display(valueJson: String): String =
        when (val v = runCatching { decode(valueJson) }.getOrElse { return valueJson }) {
            null -> ""
            is String -> v
            else -> encode(v)
        }

    private class Parser(val s: String) {
        var i = 0

        fun skipSpace() {
            while (i < s.length && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++
        }

        fun value(depth: Int): Any? {
            if (depth > MAX_DEPTH) throw JsonException("nested deeper than $MAX_DEPTH")
            skipSpace()
            if (i >= s.length) throw JsonException("unexpected end")
            return when (s[i]) {
                '{' -> obj(depth)
                '[' -> arr(depth)
                '"' -> str()
                't' -> word("true", true)
                'f' -> word("false", false)
                'n' -> word("null", null)
                else -> num()
            }
        }

        fun word(w: String, v: Any?): Any? {
            if (!s.startsWith(w, i)) throw JsonException("unexpected text at $i")
            i += w.length
            return v
        }

        fun obj(depth: Int): Map<String, Any?> {
            val m = LinkedHashMap<String, Any?>()
            i++
            skipSpace()
            if (i < s.length && s[i] == '}') return m.also { i++ }
            while (true) {
                skipSpace()
                if (i >= s.length || s[i] != '"') throw JsonException("expected a key at $i")
                val k = str()
                skipSpace()
                if (i >= s.length || s[i] != ':') throw JsonException("expected ':' at $i")
                i++
                m[k] = value(depth + 1)
                skipSpace()
                if (i >= s.length) throw JsonException("unexpected end")
                when (s[i++]) {
                    ',' -> continue
                    '}' -> return m
                    else -> throw JsonException("expected ',' or '}' at ${i - 1}")
                }
            }
        }

        fun arr(depth: Int): List<Any?> {
            val l = ArrayList<Any?>()
            i++
            skipSpace()
            if (i < s.length && s[i] == ']') return l.also { i++ }
            while (true) {
                l.add(value(depth + 1))
                skipSpace()
                if (i >= s.length) throw JsonException("unexpected end")
                when (s[i++]) {
                    ',' -> continue
                    ']' -> return l
                    else -> throw JsonException("expected ',' or ']' at ${i - 1}")
                }
            }
        }

        fun str(): String {
            val out = StringBuilder()
            i++
            while (true) {
                if (i >= s.length) throw JsonException("unterminated string")
                val c = s[i++]
                when {
                    c == '"' -> return out.toString()
                    c == '\\' -> {
                        if (i >= s.length) throw JsonException("unterminated string")
                        when (val e = s[i++]) {
                            '"', '\\', '/' -> out.append(e)
                            'n' -> out.append('\n')
                            'r' -> out.append('\r')
                            't' -> out.append('\t')
                            'b' -> out.append('\b')
                            'f' -> out.append('\u000C')
                            'u' -> {
                                if (i + 4 > s.length) throw JsonException("bad \\u escape at $i")
                                val code = s.substring(i, i + 4).toIntOrNull(16)
                                    ?: throw JsonException("bad \\u escape at $i")
                                out.append(code.toChar())
                                i += 4
                            }
                            else -> throw JsonException("bad escape \\$e at ${i - 1}")
                        }
                    }
                    c < ' ' -> throw JsonException("control character in a string at ${i - 1}")
                    else -> out.append(c)
                }
            }
        }

        fun num(): Any {
            val start = i
            if (i < s.length && s[i] == '-') i++
            while (i < s.length && (s[i].isDigit() || s[i] == '.' || s[i] == 'e' || s[i] == 'E' || s[i] == '+' || s[i] == '-')) i++
            val t = s.substring(start, i)
            if (t.isEmpty() || t == "-") throw JsonException("unexpected text at $start")
            val d = try {
                BigDecimal(t)
            } catch (e: NumberFormatException) {
                throw JsonException("bad number '$t' at $start")
            }
            return try {
                if (d.scale() <= 0 || d.stripTrailingZeros().scale() <= 0) d.longValueExact() else d
            } catch (e: ArithmeticException) {
                d
            }
        }
    }
}

/** Malformed or over-limit JSON, or a value JSON cannot hold. */
class JsonException(message: String) : IllegalArgumentException(message)
