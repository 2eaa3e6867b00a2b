// The app's screens (org.zhangban.ui): Compose only, no android.* — the same sources are compiled against
// Compose for the desktop JVM and rendered and tested there (android/ui-test, in tests/run.sh). What only
// Android can do (window flags, brightness, the file picker) is behind org.zhangban.ui.Host, which the app
// implements (org.zhangban.app.AndroidHost).
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
    id("org.jetbrains.kotlin.plugin.compose")
}

android {
    namespace = "org.zhangban.ui"
    compileSdk = 35

    defaultConfig {
        minSdk = 24
    }

    sourceSets {
        getByName("main") {
            java.srcDir("src/main/kotlin")
        }
    }

    buildFeatures {
        compose = true
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
    api(project(":zhangban"))

    api(platform("androidx.compose:compose-bom:2024.12.01"))
    api("androidx.compose.ui:ui")
    api("androidx.compose.foundation:foundation")
    api("androidx.compose.material3:material3")
    implementation("androidx.compose.material:material-icons-core")
    api("androidx.lifecycle:lifecycle-runtime-compose:2.8.7")
}
