import BackgroundTasks
import SwiftUI
import UIKit
import UserNotifications
import ZhangbanKit

/// The sample app: opens the person's store (Keychain-backed key, Application Support, excluded from
/// backup), shows four tabs (the 待办 home first), turns the core's case notices into local notifications,
/// and in a background refresh task syncs and hands the core's reminder plan (its add / replace / cancel
/// diff) to the notification centre as calendar triggers.
@main
struct ZhangbanApp: App {
    @StateObject private var opener = SessionOpener()
    @Environment(\.scenePhase) private var phase

    init() {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: SessionOpener.syncTask, using: nil) { task in
            SessionOpener.handle(task as! BGAppRefreshTask)
        }
    }

    var body: some Scene {
        WindowGroup {
            Group {
                if let session = opener.session {
                    SessionRoot(session: session)
                } else if opener.needsPin {
                    PinView(opener: opener)
                } else if let directory = opener.firstStart {
                    FirstStartView(directory: directory, opener: opener)
                } else if let error = opener.error {
                    VStack(spacing: 16) {
                        Text(error).foregroundStyle(.red)
                        Button("Retry") { Task { await opener.open() } }
                    }.padding()
                } else {
                    ProgressView()
                }
            }
            .task { await opener.open() }
        }
        .onChange(of: phase) { newPhase in
            switch newPhase {
            case .background:
                SessionOpener.schedule()
                // Leaving binds the changes; lock after the core's delay (`leftTheScreen`); back sooner: nothing locks.
                opener.session?.onBackground()
            case .active:
                opener.session?.onForeground()
            default:
                break
            }
        }
    }
}

@MainActor
final class SessionOpener: ObservableObject {
    static let syncTask = "org.zhangban.sync"
    /// The background task needs the session the UI opened (one store, one writer per process).
    static var shared: ZhangbanSession?

    @Published var session: ZhangbanSession?
    @Published var error: String?
    /// The store's folder while the first start asks "new here, or restoring a backup?" (nil otherwise).
    @Published var firstStart: URL?
    /// The store has a PIN: the PIN screen asks for it (`pinError`: the core's words for the last refusal).
    @Published var needsPin = false
    @Published var pinError: String?
    private var startAfresh = false

    /// The platform this build talks to (Info.plist `ZhangbanPlatformURL`).
    static var platformURL: String {
        Bundle.main.object(forInfoDictionaryKey: "ZhangbanPlatformURL") as? String ?? "http://127.0.0.1:8700"
    }

    /// The person chose to start with an empty store (not a restore).
    func beginAfresh() async {
        startAfresh = true
        firstStart = nil
        await open()
    }

    /// A restore put the store in place: open it (the restore's own handle is dropped first).
    func restored() async {
        firstStart = nil
        await open()
    }

    /// The one vault of the process: the person's confirmation (finding 6) is handed to it.
    private let vault = KeychainVault()

    /// Opens the store; with a PIN when it has one (the PIN screen passes it). The core counts an attempt
    /// before it checks it and refuses during a lockout: its `WrongPin` / `Locked` words go to the PIN screen.
    /// When the core says the person must confirm it is them first (`NeedsUserAuthentication`), the vault asks
    /// once (LAContext) and the same open runs again; a cancel shows the core's words.
    func open(pin: String? = nil, asked: Bool = false) async {
        guard session == nil else { return }
        // one store per process: the background refresh may have opened it before any scene
        if let s = SessionOpener.shared {
            session = s
            return
        }
        error = nil
        do {
            let support = try FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
            let directory = support.appendingPathComponent("zhangban", isDirectory: true)
            // The first start on this phone (no store yet): offer to restore a backup before an empty store
            // is made. Not for a background launch, which never shows this.
            if !startAfresh && !FileManager.default.fileExists(atPath: directory.path) {
                firstStart = directory
                return
            }
            let url = SessionOpener.platformURL
            let s = try await ZhangbanSession.open(
                directory: directory,
                vault: vault,
                pin: pin,
                platformURL: url,
                // The device key in the Secure Enclave (nil on the simulator: the store's own key).
                signer: EnclaveSigner.make(),
                onNotice: { notice in SessionOpener.notify(notice) }
            )
            SessionOpener.shared = s
            session = s
            needsPin = false
            pinError = nil
            _ = try? await UNUserNotificationCenter.current().requestAuthorization(options: [.alert, .sound, .badge])
            let version = Bundle.main.object(forInfoDictionaryKey: "CFBundleShortVersionString") as? String ?? "0"
            await s.registerOnce(model: UIDevice.current.model, appVersion: version)
        } catch let e as ZhangbanError where !asked && e.asksForPerson {
            if await vault.confirmPerson(reason: e.text(Lang.current)) {
                await open(pin: pin, asked: true)
            } else if pin != nil {
                pinError = e.text(Lang.current)
            } else {
                self.error = e.text(Lang.current)
            }
        } catch ZhangbanError.Locked(let retryAfterSecs) where pin == nil {
            // opened without the PIN it needs: ask for it (and say the wait, during a lockout)
            needsPin = true
            pinError = retryAfterSecs > 0 ? ZhangbanError.Locked(retryAfterSecs: retryAfterSecs).text(Lang.current) : nil
        } catch let e as ZhangbanError where pin != nil {
            switch e {
            case .WrongPin, .Locked: pinError = e.text(Lang.current)
            default: self.error = e.text(Lang.current)
            }
        } catch {
            self.error = errorText(error, Lang.current)
        }
    }

    /// A local notification with the core's text, one per case (a newer notice replaces the older one).
    nonisolated static func notify(_ notice: Notice) {
        let text = notice.text(Lang.current)
        let content = UNMutableNotificationContent()
        content.title = text.title
        content.body = text.body
        content.userInfo = ["caseId": notice.caseId]
        let request = UNNotificationRequest(identifier: "case." + notice.caseId, content: content, trigger: nil)
        UNUserNotificationCenter.current().add(request)
    }

    /// The next background run: at the plan's wake-up time (the core's), at the earliest in 15 minutes.
    nonisolated static func schedule(at wake: Date? = nil) {
        let request = BGAppRefreshTaskRequest(identifier: syncTask)
        request.earliestBeginDate = max(wake ?? .distantPast, Date(timeIntervalSinceNow: 15 * 60))
        try? BGTaskScheduler.shared.submit(request)
    }

    nonisolated static func handle(_ task: BGAppRefreshTask) {
        schedule()
        let work = Task { @MainActor in
            // iOS may launch the app for the refresh without any scene: open the session here then.
            if SessionOpener.shared == nil { await SessionOpener().open() }
            guard let s = SessionOpener.shared else {
                task.setTaskCompleted(success: false)
                return
            }
            // Sync, then the reminder plan's diff to the notification centre; the session's listener has
            // already posted the run's notices.
            let reminders = RemindersModel(store: s.store)
            guard let (report, wake) = try? await reminders.runBackground(s.cases, showNotices: false) else {
                task.setTaskCompleted(success: false)
                return
            }
            schedule(at: wake)
            task.setTaskCompleted(success: !report.run.offline)
        }
        task.expirationHandler = { work.cancel() }
    }
}

/// The first start: a new user starts with an empty store; a new phone restores its backup (RestoreView),
/// then finishes the move with the old phone's QR or the service centre's one-time code (BackupView).
@MainActor
struct FirstStartView: View {
    let directory: URL
    @ObservedObject var opener: SessionOpener

    var body: some View {
        NavigationStack {
            Form {
                Section {
                    Text("Welcome to Zhangban")
                }
                Button("I am new here: start") { Task { await opener.beginAfresh() } }
                NavigationLink("New phone: restore my backup") {
                    RestoreView(directory: directory, vault: KeychainVault(), platformURL: SessionOpener.platformURL) { _, _ in
                        Task { await opener.restored() }
                    }
                    .navigationTitle("Restore on a new phone")
                }
            }
            .navigationTitle("Zhangban")
        }
    }
}

/// The PIN screen: the store has a PIN. The core counts each attempt before it checks it, says how many are
/// left, and after five wrong ones how long to wait (on the boot clock: setting the phone's time changes
/// nothing); its words are shown as they come. The derivation (PBKDF2, half a second on purpose) runs off the
/// main actor inside `ZhangbanSession.open`.
@MainActor
struct PinView: View {
    @ObservedObject var opener: SessionOpener
    @State private var pin = ""
    @State private var busy = false

    var body: some View {
        NavigationStack {
            Form {
                Section {
                    SecureField("PIN", text: $pin)
                        .keyboardType(.numberPad)
                        .textContentType(.password)
                    if let e = opener.pinError { Text(e).foregroundStyle(.red) }
                } footer: {
                    Text("The PIN stays on this phone: after 5 wrong tries you wait, longer each time.")
                }
                Button("Unlock") {
                    busy = true
                    let entered = pin
                    pin = ""
                    Task {
                        await opener.open(pin: entered)
                        busy = false
                    }
                }
                .disabled(pin.isEmpty || busy)
            }
            .navigationTitle("Enter your PIN to open Zhangban")
        }
    }
}

/// The open session's screens, or the PIN screen while the session is locked (it stayed in the background
/// past the core's delay): the right PIN unlocks it in place, with every screen's state kept.
@MainActor
struct SessionRoot: View {
    @ObservedObject var session: ZhangbanSession
    @State private var pin = ""
    @State private var error: String?
    @State private var busy = false

    var body: some View {
        if session.locked {
            NavigationStack {
                Form {
                    Section {
                        SecureField("PIN", text: $pin)
                            .keyboardType(.numberPad)
                            .textContentType(.password)
                        if let error { Text(error).foregroundStyle(.red) }
                    } footer: {
                        Text("The PIN stays on this phone: after 5 wrong tries you wait, longer each time.")
                    }
                    Button("Unlock") {
                        busy = true
                        let entered = pin
                        pin = ""
                        Task {
                            do {
                                try await session.unlock(pin: entered)
                                error = nil
                            } catch {
                                self.error = errorText(error, Lang.current)
                            }
                            busy = false
                        }
                    }
                    .disabled(pin.isEmpty || busy)
                }
                .navigationTitle("Enter your PIN to open Zhangban")
            }
        } else {
            ContentView().environmentObject(session)
        }
    }
}
