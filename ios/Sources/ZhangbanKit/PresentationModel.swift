import Foundation

/// 亮证 on a screen: the presentation of one licence, replaced by a fresh one half-way through the validity
/// window the core gives (so a screenshot stops working). The code and window come from
/// `ZhangbanWallet.present`; this class only schedules.
@MainActor
public final class PresentationModel: ObservableObject {
    @Published public private(set) var code: PresentationOut?
    @Published public private(set) var error: ZhangbanError?

    private let wallet: ZhangbanWallet
    private let licenceId: String
    private var task: Task<Void, Never>?

    public init(wallet: ZhangbanWallet, licenceId: String) {
        self.wallet = wallet
        self.licenceId = licenceId
    }

    /// Starts presenting with `preset` (replacing what was shown); stops with `stop()` or when released.
    /// `engagement`: the verifier's challenge (`ZBE1:`, scanned from its screen) the codes answer, so that each is
    /// good at that verifier only (engagement mode, docs/SECURITY.md finding 8); nil: one-way codes.
    public func start(_ preset: Preset, purpose: String? = nil, engagement: String? = nil) {
        task?.cancel()
        task = Task { [weak self] in
            while !Task.isCancelled {
                // Only a weak reference across the sleep: the model can go while the loop waits.
                guard let wait = await self?.presentOnce(preset, purpose: purpose, engagement: engagement) else { return }
                try? await Task.sleep(nanoseconds: UInt64(wait) * 1_000_000_000)
            }
        }
    }

    /// Shows a fresh code; returns the seconds until the next one, or nil after an error.
    private func presentOnce(_ preset: Preset, purpose: String?, engagement: String?) async -> Int64? {
        do {
            // Now is the store's clock (no time crosses the FFI); the wait is the core's own times. Off the main
            // actor: the Secure Enclave signs it.
            let (wallet, id) = (self.wallet, licenceId)
            let c = try await Task.detached(priority: .userInitiated) { () throws -> PresentationOut in
                if let engagement {
                    return try wallet.presentEngaged(licenceId: id, preset: preset, engagementText: engagement)
                }
                return try wallet.present(licenceId: id, preset: preset, purpose: purpose)
            }.value
            code = c
            error = nil
            return max(1, c.refreshAt - c.notBefore)  // the core's: half-way through the window
        } catch let e as ZhangbanError {
            error = e
            return nil
        } catch {
            return nil
        }
    }

    public func stop() {
        task?.cancel()
        task = nil
    }

    deinit { task?.cancel() }
}
