// swift-tools-version:5.9
// ZhangbanKit: the Rust core (ZhangbanFFI.xcframework, built by build-xcframework.sh) with its generated Swift
// API (Sources/ZhangbanKit/Generated/zhangban_ffi.swift, copied there by the same script) and a thin Swift
// layer: a Keychain-backed KeyVault, ObservableObjects for cases, a form and a presentation, zh/en pickers.
// Build: ios/README.md. The sample app (App/) depends on this package.
import PackageDescription

let package = Package(
    name: "ZhangbanKit",
    platforms: [.iOS(.v16)],
    products: [
        .library(name: "ZhangbanKit", targets: ["ZhangbanKit"]),
    ],
    targets: [
        // Static libraries for iOS devices and the simulator, with the C header and module map
        // (module `zhangban_ffiFFI`, imported by the generated Swift).
        .binaryTarget(name: "ZhangbanFFI", path: "ZhangbanFFI.xcframework"),
        .target(
            name: "ZhangbanKit",
            dependencies: ["ZhangbanFFI"],
            path: "Sources/ZhangbanKit",
            linkerSettings: [.linkedFramework("SystemConfiguration"), .linkedFramework("Security")]
        ),
    ]
)
