import CoreImage
import CoreImage.CIFilterBuiltins
import SwiftUI
import UIKit
import ZhangbanKit

/// 核验: verify someone's 亮证 code offline from this phone's cached lists. Engagement mode first: the
/// screen shows its challenge (`ZBE1:`), the holder's phone answers it, a relayed code is refused. The code is
/// scanned with the camera (`ScanCodeButton`, as Android's `Host.rememberCodeScanner`) or its text pasted: both
/// go to the same `check`. The result is the core's `VerificationOutcome`: the disclosed fields, or the core's
/// reason.
/// (The Compose twin: VerifierScreen.kt.)
@MainActor
struct VerifierView: View {
    @EnvironmentObject var session: ZhangbanSession
    @State private var verifier: ZhangbanVerifier?
    @State private var purpose = "hotel-check-in"
    @State private var engaged = true
    @State private var challenge: EngagementCode?
    @State private var pasted = ""
    @State private var outcome: VerificationOutcome?
    @State private var error: String?
    private let purposes = ["hotel-check-in", "age-check", "full"]

    var body: some View {
        Form {
            if let o = outcome {
                Section {
                    Text(o.accepted ? String(localized: "Valid") : String(localized: "Not accepted")).font(.title2)
                    if let r = o.reason { Text(lang.pick(r)) }
                    if let v = o.verified {
                        Text(lang.pick(v.typeName)).font(.headline)
                        Text(lang.pick(v.issuer.nameZh, v.issuer.nameEn)).font(.caption)
                        ForEach(v.disclosed, id: \.key) { d in Text("\(lang.pick(d.name))：\(d.display)") }
                    }
                }
            }
            Section(String(localized: "Checking for")) {
                Picker(String(localized: "Purpose"), selection: $purpose) {
                    ForEach(purposes, id: \.self) { p in Text(lang.pick(purposeText(purpose: p))).tag(p) }
                }
                Toggle(String(localized: "Show my challenge first (no relaying)"), isOn: $engaged)
            }
            if engaged, let c = challenge, let image = qrCodeImage(c.text) {
                Section(String(localized: "Let the holder scan this first, then show their code:")) {
                    Image(uiImage: image).interpolation(.none).resizable().scaledToFit()
                        .accessibilityLabel(String(localized: "Verifier's challenge code"))
                }
            }
            Section {
                ScanCodeButton(title: String(localized: "Scan the holder's code")) { scanned in check(scanned) }
                    .disabled(verifier == nil)
                TextField(String(localized: "Paste the code's text (ZB1:…)"), text: $pasted)
                Button(String(localized: "Verify")) { check(pasted) }.disabled(verifier == nil || pasted.isEmpty)
            }
            if let error { Text(error).foregroundStyle(.red) }
        }
        .navigationTitle(String(localized: "Verify a presentation"))
        .task { open() }
        .onChange(of: purpose) { _ in engage() }
        .onChange(of: engaged) { _ in engage() }
    }

    private func open() {
        do {
            verifier = try session.wallet.verifier()
            engage()
        } catch {
            self.error = errorText(error, lang)
        }
    }

    private func engage() {
        outcome = nil
        guard engaged, let verifier else { challenge = nil; return }
        do {
            challenge = try verifier.engage(purpose: purpose)
        } catch {
            self.error = errorText(error, lang)
        }
    }

    private func check(_ text: String) {
        guard let verifier else { return }
        var policy = defaultVerifyPolicy()
        policy.acceptedPurposes = [purpose]
        let code = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let engagedNow = engaged
        Task {
            outcome = await Task.detached(priority: .userInitiated) {
                engagedNow ? verifier.verifyEngaged(qrText: code, policy: policy) : verifier.verify(qrText: code, policy: policy)
            }.value
        }
    }
}

/// 用证记录: the grants given (withdraw one still in force) and every use of the licences, newest first, each
/// line worded by the core. (The Compose twin: UsageScreen.kt.)
@MainActor
struct UsageView: View {
    @EnvironmentObject var session: ZhangbanSession
    @State private var grants: [GrantRecord] = []
    @State private var usage: [UsageEntry] = []
    @State private var error: String?

    var body: some View {
        List {
            if let error { Text(error).foregroundStyle(.red) }
            Section(String(localized: "Grants")) {
                if grants.isEmpty { Text(String(localized: "No grants.")) }
                ForEach(grants, id: \.grantId) { g in
                    VStack(alignment: .leading) {
                        Text(g.recipient).font(.headline)
                        Text(lang.pick(purposeText(purpose: g.purpose)))
                        if let r = g.revokedAt {
                            Text("Withdrawn \(formatTime(r))").font(.caption)
                        } else if g.expiresAt > Int64(Date().timeIntervalSince1970) {
                            Text("Valid until \(formatTime(g.expiresAt))").font(.caption)
                            Button(String(localized: "Withdraw the grant"), role: .destructive) { revoke(g.grantId) }
                        }
                    }
                }
            }
            Section(String(localized: "Every use (newest first)")) {
                ForEach(Array(usage.enumerated()), id: \.offset) { _, u in
                    VStack(alignment: .leading) {
                        Text(formatTime(u.at)).font(.caption)
                        Text(lang.pick(u.text))
                    }
                }
            }
        }
        .navigationTitle(String(localized: "Usage log"))
        .task { reload() }
    }

    private func reload() {
        do {
            grants = try session.wallet.grants(licenceId: nil).sorted { $0.issuedAt > $1.issuedAt }
            // newest first, from the core (no reversal here)
            usage = try session.wallet.usage(licenceId: nil)
        } catch {
            self.error = errorText(error, lang)
        }
    }

    private func revoke(_ id: String) {
        do {
            _ = try session.wallet.revokeGrant(grantId: id)
            reload()
        } catch {
            self.error = errorText(error, lang)
        }
    }
}

/// A QR code image of [text] (CoreImage's generator, error correction M); the wallet's 亮证, the verifier's
/// challenge and the principal's delegation code all draw theirs with it.
func qrCodeImage(_ text: String) -> UIImage? {
    let filter = CIFilter.qrCodeGenerator()
    filter.message = Data(text.utf8)
    filter.correctionLevel = "M"
    guard let output = filter.outputImage else { return nil }
    let scaled = output.transformed(by: CGAffineTransform(scaleX: 8, y: 8))
    guard let cg = CIContext().createCGImage(scaled, from: scaled.extent) else { return nil }
    return UIImage(cgImage: cg)
}
