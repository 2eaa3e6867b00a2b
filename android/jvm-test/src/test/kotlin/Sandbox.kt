package org.zhangban.jvmtest

import java.io.File
import java.nio.file.Files
import kotlin.test.AfterTest
import java.net.URI
import java.util.concurrent.TimeUnit
import org.zhangban.kit.Json
import uniffi.zhangban_ffi.ZhangbanTestClock

/**
 * The sandbox platform binary as a child process (`serve --addr 127.0.0.1:0`), its URL read from the first
 * line of its stdout, and its `clerk` commands (JSON on stdout), as in tests/python/test_cases.py. The binary
 * is the one `cargo build --workspace` builds; the pom passes its path as the `zhangban.sandbox` property.
 */
class Sandbox(addr: String = "127.0.0.1:0") : AutoCloseable {
    private val exe = File(System.getProperty("zhangban.sandbox") ?: "../../target/debug/zhangban-sandbox")
    private val proc: Process
    val url: String
    val adminToken: String

    init {
        check(exe.canExecute()) { "$exe is missing: build it with `cargo build -p zhangban-sandbox`" }
        proc = ProcessBuilder(exe.path, "serve", "--addr", addr)
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start()
        val reader = proc.inputStream.bufferedReader()
        val line = reader.readLine()?.trim().orEmpty()
        if (!line.startsWith("listening on ")) {
            close()
            error("sandbox did not start: '$line'")
        }
        url = line.removePrefix("listening on ")
        // The back office answers loopback callers with this token only.
        adminToken = reader.readLine()?.trim().orEmpty().removePrefix("admin token ")
    }

    /** Runs `zhangban-sandbox clerk --url URL args…` and returns its JSON output, decoded. */
    fun clerk(vararg args: String): Any? {
        val p = ProcessBuilder(exe.path, "clerk", "--url", url, *args)
            .apply { environment()["ZHANGBAN_SANDBOX_ADMIN_TOKEN"] = adminToken }
            .start()
        val out = p.inputStream.bufferedReader().readText()
        val err = p.errorStream.bufferedReader().readText()
        check(p.waitFor(30, TimeUnit.SECONDS)) { "clerk ${args.toList()} did not finish" }
        check(p.exitValue() == 0) { "clerk ${args.toList()} failed: $err" }
        return Json.decode(out)
    }

    /** Codes of the service items the platform offers (`GET /v1/catalog`). */
    fun catalogCodes(): List<String> {
        val body = URI("$url/v1/catalog").toURL().readText()
        @Suppress("UNCHECKED_CAST")
        val items = (Json.decode(body) as Map<String, Any?>)["items"] as List<Map<String, Any?>>
        return items.filter { it["entry"] == "item" }.map { it["id"] as String }
    }

    /**
     * The back office's 实名认证 step: enrols [elements] as the resident-ID record of the person using
     * [deviceId] (`POST /v1/admin/register`), so that phone's licence request gets that person's licence.
     */
    fun enrol(deviceId: String, elements: Map<String, String>) {
        val body = Json.encode(mapOf("device_id" to deviceId, "licence_type" to "resident_id", "elements" to elements))
        val req = java.net.http.HttpRequest.newBuilder(URI("$url/v1/admin/register"))
            .header("content-type", "application/json")
            .header("x-admin-token", adminToken)
            .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body))
            .build()
        val resp = java.net.http.HttpClient.newHttpClient().send(req, java.net.http.HttpResponse.BodyHandlers.ofString())
        check(resp.statusCode() == 200) { "enrol: ${resp.statusCode()} ${resp.body()}" }
    }

    override fun close() {
        proc.destroyForcibly()
        proc.waitFor(10, TimeUnit.SECONDS)
        proc.inputStream.close()
    }
}

/** A test with its own temporary folder and a sandbox platform, both removed afterwards. */
abstract class SandboxTest(name: String) {
    protected val tmp: File = Files.createTempDirectory("zhangban-kit-$name-").toFile()
    protected val sandbox = Sandbox()

    @AfterTest
    fun cleanup() {
        sandbox.close()
        System.gc()
        tmp.deleteRecursively()
    }
}

/**
 * The phone's clock held at now and that moment's date in China (the day the core counts working days from),
 * for the clerk's `--on`. The clerk's own clock and the phone's were apart: a test across China's midnight
 * (16:00 UTC) had the platform promise 5 working days from one day and the phone count them from the next (4).
 */
fun oneDay(): Pair<ZhangbanTestClock, String> {
    val now = System.currentTimeMillis() / 1000
    val day = java.time.Instant.ofEpochSecond(now).atOffset(java.time.ZoneOffset.ofHours(8)).toLocalDate().toString()
    return ZhangbanTestClock(now) to day
}
