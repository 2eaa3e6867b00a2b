package org.zhangban.app

import android.app.Activity
import android.net.Uri
import android.os.Build
import android.provider.OpenableColumns
import android.view.WindowManager
import androidx.activity.compose.rememberLauncherForActivityResult
import androidx.activity.result.contract.ActivityResultContracts
import androidx.compose.runtime.Composable
import androidx.biometric.BiometricManager.Authenticators.BIOMETRIC_STRONG
import androidx.biometric.BiometricManager.Authenticators.DEVICE_CREDENTIAL
import androidx.biometric.BiometricPrompt
import androidx.compose.runtime.rememberCoroutineScope
import androidx.core.content.ContextCompat
import androidx.fragment.app.FragmentActivity
import kotlin.coroutines.resume
import com.journeyapps.barcodescanner.ScanContract
import com.journeyapps.barcodescanner.ScanOptions
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.launch
import kotlinx.coroutines.suspendCancellableCoroutine
import kotlinx.coroutines.withContext
import org.zhangban.ui.Host
import org.zhangban.ui.PickedFile

/** The Android pieces of the screens (org.zhangban.ui.Host): window flags, brightness, the file picker, the QR scanner, the backup folder. */
class AndroidHost(private val activity: Activity) : Host {
    override fun protectScreen(on: Boolean) {
        val window = activity.window
        val attrs = window.attributes
        if (on) {
            // no screenshots, no recording, a blank app-switcher thumbnail; full brightness for the scanner
            window.addFlags(WindowManager.LayoutParams.FLAG_SECURE)
            attrs.screenBrightness = WindowManager.LayoutParams.BRIGHTNESS_OVERRIDE_FULL
        } else {
            window.clearFlags(WindowManager.LayoutParams.FLAG_SECURE)
            attrs.screenBrightness = WindowManager.LayoutParams.BRIGHTNESS_OVERRIDE_NONE
        }
        window.attributes = attrs
    }

    @Composable
    override fun rememberFilePicker(onPicked: (PickedFile?) -> Unit): () -> Unit {
        val launcher = rememberLauncherForActivityResult(ActivityResultContracts.GetContent()) { uri: Uri? ->
            onPicked(uri?.let { picked(it) })
        }
        return { launcher.launch("*/*") }
    }

    @Composable
    override fun rememberCodeScanner(onScanned: (String?) -> Unit): (() -> Unit)? {
        // zxing-android-embedded's scanning activity (camera permission asked by it); null contents: cancelled
        val launcher = rememberLauncherForActivityResult(ScanContract()) { r -> onScanned(r.contents) }
        return {
            launcher.launch(ScanOptions().setDesiredBarcodeFormats(ScanOptions.QR_CODE).setBeepEnabled(false).setOrientationLocked(false))
        }
    }

    override fun backupFolder(): java.io.File = BackupDocuments.autoBackupFile(activity).parentFile ?: activity.filesDir

    @Composable
    override fun rememberBackupPicker(onPicked: (List<java.io.File>?) -> Unit): () -> Unit {
        val scope = rememberCoroutineScope()
        val launcher = rememberLauncherForActivityResult(ActivityResultContracts.OpenMultipleDocuments()) { uris ->
            if (uris.isEmpty()) {
                onPicked(null)
            } else {
                scope.launch {
                    // A provider that fails mid-copy (gone offline, revoked permission) must not take the app down:
                    // the person is told and may pick again; nothing was restored.
                    val files = try {
                        BackupDocuments.copyPicked(activity, uris)
                    } catch (e: java.io.IOException) {
                        null
                    } catch (e: SecurityException) {
                        null
                    }
                    if (files == null) {
                        android.widget.Toast.makeText(
                            activity,
                            "无法读取所选文件，请重新选择 / The picked file could not be read: pick it again",
                            android.widget.Toast.LENGTH_LONG,
                        ).show()
                    }
                    onPicked(files)
                }
            }
        }
        // providers often report no type for .zbk
        return { launcher.launch(arrayOf(BackupDocuments.MIME, "*/*")) }
    }

    /**
     * Finding 6: the core said `NeedsUserAuthentication` (the Keystore refused the gated key of the store's data
     * key): BiometricPrompt, a strong biometric or the screen lock, in the core's words. Success authorizes the
     * Keystore key for the core's validity time ([KeystoreVault]); a cancel or an error (no screen lock, too many
     * tries) is false. A fingerprint not recognised keeps the prompt up (the system's own retry).
     */
    override suspend fun confirmPerson(title: String, reason: String): Boolean {
        val fragments = activity as? FragmentActivity ?: return false
        return withContext(Dispatchers.Main) {
            suspendCancellableCoroutine { done ->
                val callback = object : BiometricPrompt.AuthenticationCallback() {
                    override fun onAuthenticationSucceeded(result: BiometricPrompt.AuthenticationResult) {
                        if (done.isActive) done.resume(true)
                    }

                    override fun onAuthenticationError(errorCode: Int, errString: CharSequence) {
                        if (done.isActive) done.resume(false)
                    }
                }
                val prompt = BiometricPrompt(fragments, ContextCompat.getMainExecutor(fragments), callback)
                val info = BiometricPrompt.PromptInfo.Builder().setTitle(title).setDescription(reason)
                if (Build.VERSION.SDK_INT >= 30) {
                    info.setAllowedAuthenticators(BIOMETRIC_STRONG or DEVICE_CREDENTIAL)
                } else {
                    @Suppress("DEPRECATION")
                    info.setDeviceCredentialAllowed(true)
                }
                prompt.authenticate(info.build())
                done.invokeOnCancellation { prompt.cancelAuthentication() }
            }
        }
    }

    private fun picked(uri: Uri): PickedFile {
        val resolver = activity.contentResolver
        val name = resolver.query(uri, arrayOf(OpenableColumns.DISPLAY_NAME), null, null, null)
            ?.use { c -> if (c.moveToFirst()) c.getString(0) else null } ?: "material"
        return PickedFile(name) {
            withContext(Dispatchers.IO) { resolver.openInputStream(uri)?.use { it.readBytes() } ?: ByteArray(0) }
        }
    }
}
