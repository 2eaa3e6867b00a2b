import Foundation

/// One person's Zhangban for SwiftUI: the encrypted store, their cases synced with one platform (as a
/// published list kept current by the core's `CaseListener`), the wallet, catalog and drafts. Glue only:
/// every rule is in the core; the generated API stays reachable through `store`, `cases` and `wallet`.
@MainActor
public final class ZhangbanSession: ObservableObject {
    public let store: ZhangbanStore
    public let cases: ZhangbanCases
    public let wallet: ZhangbanWallet
    public let platformURL: String

    /// All cases, newest first; refreshed after local changes, syncs, and every notice from the core.
    @Published public private(set) var caseList: [CaseSummary] = []
    /// The latest notice (for an in-app banner); notifications go through `onNotice`.
    @Published public private(set) var lastNotice: Notice?

    private let relay: NoticeRelay
    private var streams: [UUID: AsyncStream<Notice>.Continuation] = [:]

    /// The core's notices as they arrive, for a `for await` loop in a `.task` (each call is its own stream,
    /// ended when the loop's task is cancelled). Notifications from a background launch go through `onNotice`.
    public func notices() -> AsyncStream<Notice> {
        let id = UUID()
        return AsyncStream { continuation in
            streams[id] = continuation
            continuation.onTermination = { @Sendable _ in
                Task { @MainActor [weak self] in self?.streams[id] = nil }
            }
        }
    }

    /// Opens (or creates) the store in `directory` off the main thread (PBKDF2 with a PIN takes about half a
    /// second on purpose). `onNotice` is called on the core's sync thread, e.g. to post a local notification.
    /// `signer`: the device key in the Secure Enclave, or nil (the store's own key). It is offered to the store
    /// once, here (`offerDeviceSigner`): every path that signs with the device key gets it from there — the
    /// wallet, registration, the background licence issuance, the old phone's transfer signature, agent mode
    /// (ADR 0035). The core records it for a new store; an older store keeps its own key.
    public static func open(
        directory: URL,
        vault: KeyVault,
        pin: String?,
        platformURL: String,
        signer: DeviceSigner? = nil,
        onNotice: (@Sendable (Notice) -> Void)? = nil
    ) async throws -> ZhangbanSession {
        let relay = NoticeRelay(onNotice: onNotice)
        let (store, cases, wallet) = try await Task.detached(priority: .userInitiated) {
            try FileManager.default.createDirectory(at: directory.deletingLastPathComponent(), withIntermediateDirectories: true)
            let store = try ZhangbanStore.openOrCreate(dir: directory.path, vault: vault, pin: pin)
            if let signer { store.offerDeviceSigner(signer: signer) }
            let cases = try ZhangbanCases(store: store, baseUrl: platformURL, listener: relay)
            let wallet = try ZhangbanWallet.open(store: store)
            return (store, cases, wallet)
        }.value
        var excluded = URLResourceValues()
        excluded.isExcludedFromBackup = true
        var dir = directory
        try? dir.setResourceValues(excluded)
        let session = ZhangbanSession(store: store, cases: cases, wallet: wallet, platformURL: platformURL, relay: relay)
        relay.session = session
        await session.refresh()
        return session
    }

    private init(store: ZhangbanStore, cases: ZhangbanCases, wallet: ZhangbanWallet, platformURL: String, relay: NoticeRelay) {
        self.store = store
        self.cases = cases
        self.wallet = wallet
        self.platformURL = platformURL
        self.relay = relay
    }

    public func refresh() async {
        let cases = self.cases
        if let list = try? await Task.detached(operation: { try cases.list(subject: nil) }).value {
            caseList = list
        }
    }

    fileprivate func received(_ notice: Notice) {
        lastNotice = notice
        for continuation in streams.values { continuation.yield(notice) }
        Task { await refresh() }
    }

    // MARK: catalog and forms

    /// Offline search, off the main actor (a keystroke in the search box must not wait on the store).
    public func search(_ query: String, limit: UInt32 = 20) async throws -> [Hit] {
        let store = self.store
        return try await Task.detached(priority: .userInitiated) {
            try catalogSearch(store: store, query: query, limit: limit)
        }.value
    }

    public func checklist(_ code: String) async throws -> Checklist {
        let store = self.store
        return try await Task.detached(priority: .userInitiated) {
            try catalogChecklist(store: store, subject: selfSubject(), code: code)
        }.value
    }

    public func startDraft(_ target: String) throws -> DraftFormModel {
        DraftFormModel(store: store, draft: try ZhangbanDraft.start(store: store, subject: selfSubject(), target: target))
    }

    public func resumeDraft(_ id: String) throws -> DraftFormModel {
        DraftFormModel(store: store, draft: try ZhangbanDraft.resume(store: store, draftId: id))
    }

    /// Submits a completed draft (works offline; sync sends it). A draft with problems throws
    /// `ZhangbanError.Validation` naming the first one.
    @discardableResult
    public func submit(_ form: DraftFormModel) async throws -> CaseSummary {
        await form.settled()
        let (cases, draft) = (self.cases, form.draft)
        let c = try await Task.detached(priority: .userInitiated) { try cases.submitDraft(draft: draft) }.value
        form.reload()
        await refresh()
        return c
    }

    // MARK: cases and sync

    /// The case screen in one call (today by the store's clock): state, working days, needs, actions.
    public func view(_ caseId: String) throws -> CaseView {
        try cases.view(caseId: caseId)
    }

    /// Registers the device with the platform once (the registration is kept in the store by the core;
    /// retried while offline).
    public func registerOnce(model: String, appVersion: String) async {
        guard (try? deviceRegistered(store: store)) != true else { return }
        // The key registered is the one the core decided for this store (the Secure Enclave key offered at open).
        _ = try? await cases.registerDevice(platform: "ios", model: model, appVersion: appVersion)
    }

    // MARK: lock on background

    private var pendingLock: Task<Void, Never>?

    /// The scene went to the background (`scenePhase == .background`): the core binds the changes made since
    /// the last bind, here before iOS suspends the app (it may be killed then), and gives the delay
    /// (`leftTheScreen`: the person's setting, 30 s by default; never for a store without a PIN); after it the
    /// store forgets its keys and `locked` turns true (the app shows the PIN screen), unless `onForeground`
    /// came first.
    public func onBackground() {
        pendingLock?.cancel()
        let secs: UInt32
        do {
            guard let s = try store.leftTheScreen() else { return } // no PIN: never locked
            secs = s
        } catch {
            secs = 0 // the setting unreadable: lock at once rather than stay open
        }
        let store = self.store
        pendingLock = Task { @MainActor [weak self] in
            try? await Task.sleep(nanoseconds: UInt64(secs) * 1_000_000_000)
            guard !Task.isCancelled else { return }
            store.lock()
            self?.locked = store.isLocked()
        }
    }

    /// The scene is active again: a lock still waiting is cancelled.
    public func onForeground() {
        pendingLock?.cancel()
        pendingLock = nil
    }

    /// Whether the store is locked (it stayed in the background past the core's delay): the PIN screen asks.
    @Published public private(set) var locked = false

    /// Unlocks with the PIN (PBKDF2, off the main actor); the core's `WrongPin` / `Locked` errors are thrown.
    public func unlock(pin: String?) async throws {
        let store = self.store
        try await Task.detached(priority: .userInitiated) { try store.unlock(pin: pin) }.value
        locked = store.isLocked()
        await refresh()
    }

    /// One sync run (what a background refresh task calls).
    @discardableResult
    public func syncNow() async -> RunReport {
        let report = await cases.syncNow()
        await refresh()
        return report
    }
}

/// The `CaseListener` the core calls from its sync task: forwards to the session on the main actor.
final class NoticeRelay: CaseListener, @unchecked Sendable {
    weak var session: ZhangbanSession?
    private let forward: (@Sendable (Notice) -> Void)?

    init(onNotice: (@Sendable (Notice) -> Void)?) {
        forward = onNotice
    }

    func onNotice(notice: Notice) {
        forward?(notice)
        Task { @MainActor [weak self] in self?.session?.received(notice) }
    }
}
