import CoreImage
import CoreImage.CIFilterBuiltins
import SwiftUI
import UIKit
import ZhangbanKit

/// 证照: the wallet's licences; tap one to present it.
@MainActor
struct WalletView: View {
    @EnvironmentObject var session: ZhangbanSession
    @State private var licences: [LicenceSummary] = []
    @State private var error: String?

    var body: some View {
        NavigationStack {
            List {
                if let error { Text(error).foregroundStyle(.red) }
                ForEach(licences, id: \.licenceId) { item in
                    NavigationLink {
                        PresentView(item: item, model: PresentationModel(wallet: session.wallet, licenceId: item.licenceId))
                    } label: {
                        VStack(alignment: .leading) {
                            Text(lang.pick(item.typeName)).font(.headline)
                            Text(item.issuerName(lang)).font(.subheadline)
                            Text(lang.pick(item.statusText)).font(.caption)
                        }
                    }
                }
                // Sandbox only: the platform issues a device-bound licence to a registered device.
                Button("Get a sample resident ID") { Task { await requestSample() } }
                NavigationLink(String(localized: "Verify someone's code")) { VerifierView() }
                NavigationLink(String(localized: "Usage log and grants")) { UsageView() }
            }
            .navigationTitle("Wallet")
            .task { await reload() }
        }
    }

    private func reload() {
        do {
            licences = try session.wallet.licences()
        } catch {
            self.error = errorText(error, lang)
        }
    }

    private func requestSample() async {
        do {
            _ = try await session.wallet.refreshLists(platformUrl: session.platformURL)
            // The platform issues what its own register holds for this device's person; the app names only the type.
            _ = try await session.wallet.requestLicence(platformUrl: session.platformURL, licenceType: "resident_id", caseId: nil)
            reload()
        } catch {
            self.error = errorText(error, lang)
        }
    }

}

/// 亮证: the presentation as a QR code (CoreImage's generator, error correction M, as the core renders it),
/// replaced before it lapses; a countdown shows the seconds left.
@MainActor
struct PresentView: View {
    let item: LicenceSummary
    @StateObject var model: PresentationModel
    @State private var preset: Preset = .hotelCheckIn
    /// Engagement mode: the verifier's challenge (`ZBE1:`) scanned from its screen; the codes answer it.
    @State private var engagement: String?
    @State private var now = Date()
    @State private var captured = UIScreen.main.isCaptured
    @State private var brightness: CGFloat?
    @Environment(\.scenePhase) private var phase
    private let tick = Timer.publish(every: 1, on: .main, in: .common).autoconnect()
    private let captureChanged = NotificationCenter.default.publisher(for: UIScreen.capturedDidChangeNotification)
    private let screenshot = NotificationCenter.default.publisher(for: UIApplication.userDidTakeScreenshotNotification)

    /// No code while the screen is recorded or mirrored, nor in the app-switcher snapshot (taken when the
    /// scene goes inactive). iOS cannot block a screenshot: after one, the code is replaced at once.
    private var hidden: Bool { captured || phase != .active }

    var body: some View {
        VStack(spacing: 16) {
            Picker("", selection: $preset) {
                Text("Hotel").tag(Preset.hotelCheckIn)
                Text("Age").tag(Preset.ageCheck)
                Text("All").tag(Preset.full)
            }
            .pickerStyle(.segmented)
            if engagement != nil {
                Text(String(localized: "This code is good only at the verifier you scanned."))
                Button(String(localized: "Show a plain code instead")) { engagement = nil }
            } else {
                ScanCodeButton(title: String(localized: "Scan the verifier's challenge (no relaying)")) { text in
                    engagement = text.trimmingCharacters(in: .whitespacesAndNewlines)
                }
            }
            if let error = model.error { Text(error.text(lang)).foregroundStyle(.red) }
            if hidden {
                Text(String(localized: "The code is hidden while the screen is recorded or the app is in the background"))
            } else if let code = model.code, let image = qrCodeImage(code.qrText) {
                Image(uiImage: image)
                    .interpolation(.none)
                    .resizable()
                    .scaledToFit()
                    .accessibilityLabel("presentation QR code")
                let left = max(0, code.notAfter - Int64(now.timeIntervalSince1970))
                Text("Valid for \(Int(left)) s; a new code follows automatically")
            }
        }
        .padding()
        .navigationTitle(lang.pick(item.typeName))
        .onAppear {
            model.start(preset, engagement: engagement)
            // full brightness for the scanner, restored on leaving
            brightness = UIScreen.main.brightness
            UIScreen.main.brightness = 1.0
        }
        .onDisappear {
            model.stop()
            if let brightness { UIScreen.main.brightness = brightness }
        }
        .onChange(of: preset) { p in model.start(p, engagement: engagement) }
        // A challenge scanned (or dropped): the codes answer it (or go back to one-way); the core refuses a text
        // that is not a verifier's challenge, and its words show above the code.
        .onChange(of: engagement) { e in model.start(preset, engagement: e) }
        .onReceive(tick) { now = $0 }
        .onReceive(captureChanged) { _ in captured = UIScreen.main.isCaptured }
        .onReceive(screenshot) { _ in model.start(preset, engagement: engagement) }
    }
}
