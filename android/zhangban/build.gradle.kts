// The Zhangban Kotlin library for Android: the generated UniFFI bindings (uniffi.zhangban_ffi, from
// bindings/generate.sh), the thin Kotlin layer in src/main/kotlin (org.zhangban.kit: plain Kotlin, no
// Android imports, also compiled and tested on the desktop JVM by android/jvm-test), and the native
// library per ABI in src/main/jniLibs (built by cargo-ndk, see android/README.md). The app depends on
// this module; JNA's AAR brings libjnidispatch.so for each ABI.
plugins {
    id("com.android.library")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "org.zhangban.kit"
    compileSdk = 35

    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets {
        getByName("main") {
            // The generated Kotlin is not checked in: it is regenerated from the library it must match.
            java.srcDir("../../bindings/generated/kotlin")
            jniLibs.srcDir("src/main/jniLibs")
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
    // The generated bindings call the library through JNA; the AAR carries JNA's native part for Android.
    api("net.java.dev.jna:jna:5.17.0@aar")
    api("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.10.2")
    // Form values cross the FFI as JSON text (org.zhangban.kit.Json maps them to Kotlin values).
    implementation("org.jetbrains.kotlinx:kotlinx-serialization-json:1.9.0")
}
