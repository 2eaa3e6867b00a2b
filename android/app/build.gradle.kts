// The Compose sample app: wallet (亮证 QR), find a service and fill its form, my cases with progress and
// timeline, notifications from the core's CaseListener, a WorkManager worker that syncs. Thin: every rule
// and every text a person reads about their data comes from the core through :zhangban.
plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
    id("org.jetbrains.kotlin.plugin.compose")
}

android {
    namespace = "org.zhangban.app"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.zhangban.app"
        minSdk = 24
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        // The platform. The core accepts plain http only on loopback: for the sandbox on a development
        // machine, `adb reverse tcp:8700 tcp:8700` and keep this default; a real platform is https.
        val platform = (project.findProperty("zhangban.platformUrl") as String?) ?: "http://127.0.0.1:8700"
        buildConfigField("String", "PLATFORM_URL", "\"$platform\"")
    }

    buildFeatures {
        compose = true
        buildConfig = true
    }

    buildTypes {
        release {
            isMinifyEnabled = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    implementation(project(":zhangban"))
    implementation(project(":ui")) // the screens

    implementation(platform("androidx.compose:compose-bom:2024.12.01"))
    implementation("androidx.compose.ui:ui")
    implementation("androidx.compose.material3:material3")
    implementation("androidx.activity:activity-compose:1.9.3")
    implementation("androidx.core:core-ktx:1.15.0")
    implementation("androidx.biometric:biometric:1.1.0") // BiometricPrompt on NeedsUserAuthentication (AndroidHost)
    implementation("androidx.lifecycle:lifecycle-runtime-compose:2.8.7")
    implementation("androidx.work:work-runtime-ktx:2.10.0")
    implementation("com.journeyapps:zxing-android-embedded:4.3.0") // the QR scanner of 核验 (AndroidHost)
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
}
