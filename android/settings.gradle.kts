// The Android build of Zhangban: the Kotlin library (:zhangban — generated bindings + org.zhangban.kit +
// the native library per ABI) and the screens (:ui, Compose only) and the app that hosts them (:app). Build steps: android/README.md.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "zhangban-android"
include(":zhangban", ":ui", ":app")
